package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/optibid/idp/storage/postgres"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

// A code's claim is held across replicas while its exchange lives, and
// dies with the replica that holds it (its connections close), so a
// client's retry on another replica may take over a lost answer. Claims
// take at most a quarter of the pool.
func TestCodeClaimDiesWithItsReplica(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a := openDSN(t, dsn)
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := openDSN(t, dsn)
	const code = "5f2b8c0e9d0a4b7c8e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f"

	releaseA, ok, err := a.ClaimCode(ctx, code)
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if release, ok, err := b.ClaimCode(ctx, code); err != nil || ok {
		t.Fatalf("a claim held by a live replica was taken again: %v %v", ok, err)
	} else {
		release() // a no-op: it must not free the other replica's claim
	}
	if _, ok, _ := b.ClaimCode(ctx, code); ok {
		t.Fatal("a refused claim's release freed the holder's claim")
	}

	// The replica dies mid-exchange, its claim unreleased: its session
	// ends, as when the process is killed and its connections close.
	var killed bool
	if err := b.Pool().QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = x'434f4445'::int`).Scan(&killed); err != nil || !killed {
		t.Fatalf("ending the holder's session: %v %v", killed, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		release, ok, err := b.ClaimCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			release()
			release() // twice is once
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead replica's claim outlived it")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if release, ok, err := b.ClaimCode(ctx, code); err != nil || !ok {
		t.Fatalf("claim after release: %v %v", ok, err)
	} else {
		release()
	}
	releaseA() // the dead session's unlock fails; the connection is dropped, not reused
	if release, ok, err := a.ClaimCode(ctx, code); err != nil || !ok {
		t.Fatalf("the replica whose session died cannot claim again: %v %v", ok, err)
	} else {
		release()
	}

	small, err := postgres.Open(ctx, postgres.Config{DSN: dsn, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	release, ok, err := small.ClaimCode(ctx, code)
	if err != nil || !ok {
		t.Fatalf("claim on a small pool: %v %v", ok, err)
	}
	if _, ok, _ := small.ClaimCode(ctx, "0"+code[1:]); ok {
		t.Fatal("claims took more than a quarter of a four-connection pool")
	}
	release()
	if release, ok, err := small.ClaimCode(ctx, "0"+code[1:]); err != nil || !ok {
		t.Fatalf("claim after the cap freed: %v %v", ok, err)
	} else {
		release()
	}
}
