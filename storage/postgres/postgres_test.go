package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/lock"

	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/postgres"
	"github.com/optibid/idp/storage/postgres/pgtest"
	"github.com/optibid/idp/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t) })
}

// Replicas start together: concurrent migrations must serialize on the
// advisory lock and leave one applied schema.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if _, err := s.Migrate(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.MigrationStatus(ctx)
	if err != nil || len(st) == 0 {
		t.Fatalf("status: %v %v", st, err)
	}
	for _, m := range st {
		if !m.Applied {
			t.Fatalf("not applied: %+v", m)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping after migrate: %v", err)
	}
}

func TestPingReportsPendingMigrations(t *testing.T) {
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: pgtest.EmptyDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("ping must fail before migrations")
	}
}

// A migration waiting for another one's lock gives up when its context
// ends, and goes ahead soon after the lock is released.
func TestMigrateWaitHonoursContext(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	ctx := context.Background()
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Migrate(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("migrate while the lock is held: want context.DeadlineExceeded, got %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("migrate took %v to notice its context ended", took)
	}

	release := 200 * time.Millisecond
	released := make(chan error, 1)
	go func() {
		time.Sleep(release)
		_, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lock.DefaultLockID)
		released <- err
	}()
	defer func() { <-released }() // before holder closes
	start = time.Now()
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("migrate after the lock is released: %v %v", applied, err)
	}
	if took := time.Since(start); took > release+3*time.Second {
		t.Fatalf("migrate took %v after the lock was released at %v", took, release)
	}
}

// Every DSN is its own database, copied from the migrated template: ready
// to use, and isolated from the others even when made concurrently.
func TestFreshDatabasesFromTemplate(t *testing.T) {
	ctx := context.Background()
	const n = 6
	dsns := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); dsns[i] = pgtest.DSN(t) }()
	}
	wg.Wait()
	for i, dsn := range dsns {
		s, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("database %d not migrated: %v", i, err)
		}
		if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
			t.Fatalf("database %d: migrate again applied %v (%v)", i, applied, err)
		}
		if _, err := s.CreateUser(ctx, storage.User{Email: "same@example.com"}, storage.AuditEvent{}); err != nil {
			t.Fatalf("database %d is not empty: %v", i, err)
		}
		s.Close()
	}
}

// The audit log is append-only in the database itself, not only in code.
func TestAuditLogImmutable(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.AppendAudit(ctx, storage.AuditEvent{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_log SET type = 'y'`, `UPDATE audit_log SET ip = ''`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		_, err := s.Pool().Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: want refusal, got %v", q, err)
		}
	}
	// Even inside an erasure transaction, only the personal columns may
	// change, and rows are never deleted.
	for _, q := range []string{`UPDATE audit_log SET type = 'y'`, `UPDATE audit_log SET time = now() - interval '1 day'`, `DELETE FROM audit_log`} {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL optibid.erasure = 'on'`); err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, q)
		_ = tx.Rollback(ctx)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("erasure transaction, %s: want refusal, got %v", q, err)
		}
	}
}
