package password

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestOnIdleOncePerQuietSpell: a burst of hashes calls the hook once, after
// the last one, and never while a hash holds a slot.
func TestOnIdleOncePerQuietSpell(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2, time.Second)
	var calls atomic.Int32
	h.OnIdle(20*time.Millisecond, 0, func() { calls.Add(1) })
	for range 5 {
		if _, err := h.Hash(ctx, "burst"); err != nil {
			t.Fatal(err)
		}
	}
	waitCalls(t, &calls, 1)

	// A hash in flight (its slot held) keeps the hook from running: when
	// the timer the previous hash armed fires meanwhile, and when another
	// hash finishes beside it.
	if _, err := h.Hash(ctx, "armed"); err != nil {
		t.Fatal(err)
	}
	if err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, "overlapping"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("hook ran %d times with a hash in flight, want still 1", n)
	}
	h.release()
	waitCalls(t, &calls, 2)
	time.Sleep(80 * time.Millisecond)
	if n := calls.Load(); n != 2 {
		t.Fatalf("hook ran %d times after one quiet spell, want 2", n)
	}
}

func waitCalls(t *testing.T, calls *atomic.Int32, want int32) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if calls.Load() == want {
			return
		}
	}
	t.Fatalf("hook ran %d times, want %d", calls.Load(), want)
}

// TestOnIdleOnlyAfterKeptMemoryAndOncePerGap: work that leaves no memory
// behind (a policy check refused before the strength estimate) never
// calls the hook, and sign-ins that trickle in, each after a quiet
// spell, call it once per gap, not once each (review finding).
func TestOnIdleOnlyAfterKeptMemoryAndOncePerGap(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2, time.Second)
	var calls atomic.Int32
	h.OnIdle(10*time.Millisecond, 300*time.Millisecond, func() { calls.Add(1) })
	if err := h.CheckPolicy(ctx, DefaultPolicy(), "short", false); !errors.Is(err, ErrPolicy) {
		t.Fatalf("a five-character password: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("a check refused by length called the hook %d times", n)
	}
	start := time.Now()
	for range 4 { // each hash is its own quiet spell
		if _, err := h.Hash(ctx, "trickle"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
	}
	if n := calls.Load(); time.Since(start) < 300*time.Millisecond && n != 1 {
		t.Fatalf("four quiet spells inside one gap called the hook %d times, want 1", n)
	}
	waitCalls(t, &calls, 2) // the last hash's memory is still given back, once the gap has passed
	if since := time.Since(start); since < 300*time.Millisecond {
		t.Fatalf("second call after %v, inside the gap", since)
	}
}
