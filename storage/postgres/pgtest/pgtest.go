// Package pgtest gives tests a real, throwaway PostgreSQL.
//
// With OPTIBID_TEST_DATABASE_URL set, tests use that server. Otherwise the
// first caller in a test binary starts a private cluster (internal/pgcluster)
// and Main removes it at exit. Every test gets a fresh database: DSN one with
// every migration applied, EmptyDSN an empty one. When PostgreSQL cannot run,
// tests skip with a loud message, or fail when OPTIBID_REQUIRE_POSTGRES=1 (as
// in CI).
//
// The migrations run once per test binary, into a template database; each
// DSN is a copy of it (CREATE DATABASE … TEMPLATE), which costs a fraction
// of running every migration again. PostgreSQL copies a template only while
// nobody is connected to it, so the template refuses connections once it is
// migrated.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/pgcluster"
	"github.com/optibid/idp/storage/postgres"
)

// The server and the template are per test binary, as their lifetime is.
var (
	once     sync.Once
	baseDSN  string
	startErr error
	cluster  *pgcluster.Cluster

	templateOnce sync.Once
	template     string // name of the migrated template database
	templateErr  error
)

// Main runs the tests of a package and stops the cluster afterwards. Call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	} else if template != "" {
		dropTemplate() // a shared server outlives us: leave no template behind
	}
	os.Exit(code)
}

// DSN returns the connection string of a new database with every migration
// applied, or skips (or fails, under OPTIBID_REQUIRE_POSTGRES=1) the test
// when PostgreSQL cannot run here. Migrating it again finds nothing to do.
func DSN(t testing.TB) string {
	t.Helper()
	server(t)
	templateOnce.Do(func() { template, templateErr = migrateTemplate() })
	if templateErr != nil {
		t.Fatalf("pgtest: template database: %v", templateErr)
	}
	return newDatabase(t, template)
}

// EmptyDSN returns the connection string of a new, empty database (no
// migration applied), for tests of migrating itself; it skips like DSN.
func EmptyDSN(t testing.TB) string {
	t.Helper()
	server(t)
	return newDatabase(t, "")
}

// server starts the cluster (once) or skips the test.
func server(t testing.TB) {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv("OPTIBID_TEST_DATABASE_URL"); u != "" {
			baseDSN = u
			return
		}
		cluster, startErr = pgcluster.Start()
		if startErr == nil {
			baseDSN = cluster.DSN()
		}
	})
	if startErr != nil {
		msg := fmt.Sprintf("\n\n*** PostgreSQL tests NOT RUN: %v ***\n*** install PostgreSQL (initdb, postgres) or set OPTIBID_TEST_DATABASE_URL ***\n", startErr)
		if os.Getenv("OPTIBID_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func newDatabase(t testing.TB, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := pgcluster.NewDatabaseFrom(ctx, baseDSN, template)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// migrateTemplate creates a database, migrates it with the backend's own
// Migrate, closes every connection to it and makes it refuse new ones, so
// that it can serve as a template from then on.
func migrateTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn, err := pgcluster.NewDatabase(ctx, baseDSN)
	if err != nil {
		return "", err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", err
	}
	name := cfg.Database
	s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
	if err != nil {
		return "", err
	}
	_, err = s.Migrate(ctx)
	s.Close() // waits until every connection of the pool is closed
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH ALLOW_CONNECTIONS false`); err != nil {
		return "", err
	}
	return name, nil
}

func dropTemplate() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{template}.Sanitize())
}
