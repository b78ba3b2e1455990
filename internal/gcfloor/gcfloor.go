// Package gcfloor keeps the collector from running ever more often as the
// live heap shrinks.
//
// With GOGC=100 the collector lets the heap grow by about its live size
// between collections. A replica's live heap is small (a few MB when it
// holds no password dictionaries or argon2id memory), so under load it
// collected every few hundred requests, and a collection's fixed cost
// (its phases, the stacks, the globals) then cost discovery and
// client_credentials about a tenth of their rate (docs/benchmarks.md,
// "Memory: every scenario under 64 MiB"). The tuner keeps the heap goal
// (the heap size at which the next collection starts) at a floor or
// above; a live heap for which GOGC=100 already reaches the floor (a
// sign-in replica holding argon2id working memory) is paced by GOGC=100
// as before, so there the floor adds nothing. GOMEMLIMIT, when set, still
// caps the heap.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// basePercent is GOGC's default, used whenever the live heap is large
// enough to need no floor.
const basePercent = 100

// heapMinimum is the runtime's smallest heap goal at GOGC=100; it scales
// with the percentage.
const heapMinimum = 4 << 20

// Tuner resets the collector's percentage after every collection.
type Tuner struct {
	floor   uint64
	mu      sync.Mutex // guards what follows
	stopped bool
	samples []metrics.Sample
	percent int
	prev    int // the percentage before Start, restored by Stop
}

// Start keeps the heap goal (the heap size at which the next collection
// starts) at floor bytes or more, however small the live heap. It sets the
// process's GC percentage (debug.SetGCPercent), so the caller should not
// start it when the operator has set GOGC. Stop ends it.
func Start(floor uint64) *Tuner {
	t := &Tuner{floor: floor, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}}
	t.prev = debug.SetGCPercent(basePercent)
	t.percent = basePercent
	t.adjust()
	t.arm()
	return t
}

// Stop ends the tuning and restores the percentage from before Start.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	debug.SetGCPercent(t.prev)
}

// sentinel is garbage whose cleanup tells the tuner a collection has run.
// It is too large for the tiny allocator, which could keep it alive with
// its neighbours.
type sentinel [32]byte

// arm allocates a sentinel that the next collection finds unreachable;
// its cleanup adjusts the percentage and arms the next one.
func (t *Tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *Tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets the percentage for the heap the last collection left. It
// reports false, and does nothing, once the Tuner is stopped.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	live := v[0]
	p := percentFor(t.floor, live, live+v[1]+v[2])
	if p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// percentFor is the percentage whose heap goal is floor when GOGC's
// default would give less, and GOGC's default otherwise. The runtime's
// goal is the larger of live+base×p/100 (base: the live heap, stacks and
// globals) and heapMinimum×p/100; p is capped so the second is at most
// floor.
func percentFor(floor, live, base uint64) int {
	if live+base >= floor || base == 0 {
		return basePercent
	}
	p := min((floor-live)*100/base, floor*100/heapMinimum)
	return max(basePercent, int(p))
}
