package password

import (
	"sync"
	"sync/atomic"
	"time"
)

// OnIdle arranges for the pool to drop what it keeps between hashes
// (argon2id's working memory, one set of MiB per slot, and the strength
// estimator's dictionaries) and for f to run, once the pool has had no
// hash or check in flight for after, counted from the last one to finish,
// when it kept memory since f last did, and at most once per gap.
// Dropped memory is garbage that the collector keeps, and the process
// keeps its pages, until the heap grows again; the caller can give it
// back here (debug.FreeOSMemory). The gap bounds what that costs,
// whatever the traffic: sign-ins slower than one per quiet spell would
// otherwise pay a full collection and a fresh working set each. Call it
// before the Hasher is used.
func (h *Hasher) OnIdle(after, gap time.Duration, f func()) {
	h.idle = &idleHook{after: after, gap: gap, f: f}
}

// idleHook is OnIdle's state.
type idleHook struct {
	after, gap time.Duration
	f          func()
	used       atomic.Bool // memory was kept since f last did
	mu         sync.Mutex
	timer      *time.Timer
	last       time.Time // when f last ran
}

// keptMemory marks work that left memory for the idle hook to drop:
// argon2id's working set (a hash, or a check of one) or the strength
// estimator's dictionaries (a policy check that got that far). bcrypt
// checks and policy checks refused before the estimate leave none.
func (h *Hasher) keptMemory() {
	if h.idle != nil {
		h.idle.used.Store(true)
	}
}

// arm (re)starts the quiet-spell timer, when there is something to give
// back.
func (i *idleHook) arm(h *Hasher) {
	if !i.used.Load() {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	wait := max(i.after, i.gap-time.Since(i.last))
	if i.timer != nil {
		i.timer.Reset(wait)
		return
	}
	i.timer = time.AfterFunc(wait, func() { i.fire(h) })
}

// fire drops the working memory and runs f, unless a hash is in flight
// as the timer fires (its release arms the timer again; one may still
// start while f runs, which costs it time, not correctness) or the gap
// since the last run has not passed (then it waits for the rest of it).
func (i *idleHook) fire(h *Hasher) {
	if len(h.slots) != 0 || !i.used.Load() {
		return
	}
	i.mu.Lock()
	if rest := i.gap - time.Since(i.last); rest > 0 {
		i.timer.Reset(rest)
		i.mu.Unlock()
		return
	}
	i.last = time.Now()
	i.used.Store(false)
	i.mu.Unlock()
	h.mem.drop()
	h.dicts.drop()
	i.f()
}
