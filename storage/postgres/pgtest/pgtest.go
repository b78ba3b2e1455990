// Package pgtest gives tests a real, throwaway PostgreSQL.
//
// With OPTIBID_TEST_DATABASE_URL set, tests use that server. Otherwise the
// first caller in a test binary starts a private cluster (internal/pgcluster)
// and Main removes it at exit. Every test gets a fresh database. When
// PostgreSQL cannot run, tests skip with a loud message, or fail when
// OPTIBID_REQUIRE_POSTGRES=1 (as in CI).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/pgcluster"
)

var (
	once     sync.Once
	baseDSN  string
	startErr error
	cluster  *pgcluster.Cluster
)

// Main runs the tests of a package and stops the cluster afterwards. Call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// DSN returns the connection string of a new, empty database, or skips (or
// fails, under OPTIBID_REQUIRE_POSTGRES=1) the test when PostgreSQL cannot
// run here.
func DSN(t testing.TB) string {
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := pgcluster.NewDatabase(ctx, baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
