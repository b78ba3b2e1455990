package password

import (
	"context"
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
	h.OnIdle(20*time.Millisecond, func() { calls.Add(1) })
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
