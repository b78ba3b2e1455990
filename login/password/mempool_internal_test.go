package password

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/optibid/idp/login/password/internal/zxcvbn"
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

// TestDictionariesOnlyWhileSettingPasswords: linking the package builds no
// strength dictionaries (upstream's zxcvbn held about 10 MB of heap from
// the start); a policy check that reaches the estimate builds them, checks
// in parallel share them, and the idle hook drops them.
func TestDictionariesOnlyWhileSettingPasswords(t *testing.T) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 6<<20 {
		t.Fatalf("the test binary holds %d bytes of live heap before any check", ms.HeapAlloc)
	}
	ctx := context.Background()
	h := NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 4, time.Second)
	dropped := make(chan *zxcvbn.Estimator, 1)
	h.OnIdle(20*time.Millisecond, 0, func() {
		h.dicts.mu.Lock()
		defer h.dicts.mu.Unlock()
		dropped <- h.dicts.est
	})
	if h.dicts.est != nil {
		t.Fatal("a new Hasher holds dictionaries")
	}
	var wg sync.WaitGroup
	var built sync.Map
	for i := range 8 {
		wg.Go(func() {
			if err := h.CheckPolicy(ctx, DefaultPolicy(), "password123456789", false); !errors.Is(err, ErrPolicy) {
				t.Errorf("a common password passed: %v", err)
			}
			if err := h.CheckPolicy(ctx, DefaultPolicy(), fmt.Sprint("orbit lantern velvet ", i), false); err != nil {
				t.Errorf("a passphrase was refused: %v", err)
			}
			built.Store(h.dicts.get(), true)
		})
	}
	wg.Wait()
	n := 0
	built.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("eight parallel checks built %d estimators, want one", n)
	}
	if est := <-dropped; est != nil {
		t.Fatal("the idle hook ran with the dictionaries still held")
	}
}
