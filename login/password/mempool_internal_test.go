package password

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func (p *memPool) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// TestWorkingMemoryReused: the reference hash keeps no working set;
// hashes keep at most one per slot,
// however many run; checking an old hash made with more memory keeps none
// of its larger set; the idle hook drops them all before it runs.
func TestWorkingMemoryReused(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(Params{MemoryKiB: 256, Iterations: 1, Parallelism: 1}, 3, time.Second)
	var calls atomic.Int32
	held := make(chan int, 1)
	h.OnIdle(20*time.Millisecond, 0, func() { held <- h.mem.held(); calls.Add(1) })
	if n := h.mem.held(); n != 0 {
		t.Fatalf("after the reference hash the pool holds %d working sets, want none", n)
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if _, err := h.Hash(ctx, fmt.Sprint("parallel ", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := h.mem.held(); n < 1 || n > 3 {
		t.Fatalf("after 12 hashes on 3 slots the pool holds %d working sets, want 1 to 3", n)
	}
	if n := <-held; n != 0 {
		t.Fatalf("the idle hook ran with %d working sets still held", n)
	}
	waitCalls(t, &calls, 1)

	// A hash made with four times the memory still verifies, and its
	// larger working set is not kept.
	salt := []byte("sixteen byte salt")
	key := argon2.IDKey([]byte("old cost"), salt, 1, 1024, 1, 32)
	b64 := base64.RawStdEncoding
	old := fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	ok, rehash, err := h.Verify(ctx, old, "old cost")
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(old cost) = %v, %v, %v; want a match that needs rehashing", ok, rehash, err)
	}
	h.mem.mu.Lock()
	defer h.mem.mu.Unlock()
	for _, m := range h.mem.free {
		if m.Size() > 256 {
			t.Fatalf("the pool kept a %d KiB working set, over the configured 256", m.Size())
		}
	}
}
