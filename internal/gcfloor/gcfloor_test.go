package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const MiB = 1 << 20
	for _, c := range []struct {
		floor, live, base uint64
		want              int
	}{
		{16 * MiB, 2 * MiB, 3 * MiB, 400},   // a small heap: the floor, capped by the runtime's minimum
		{16 * MiB, 6 * MiB, 7 * MiB, 142},   // (16-6)/7
		{16 * MiB, 8 * MiB, 9 * MiB, 100},   // GOGC=100 already reaches the floor
		{16 * MiB, 30 * MiB, 31 * MiB, 100}, // never below the default
		{16 * MiB, 0, 0, 100},               // nothing measured
		{0, 2 * MiB, 3 * MiB, 100},          // no floor
	} {
		if got := percentFor(c.floor, c.live, c.base); got != c.want {
			t.Errorf("percentFor(%d, %d, %d) = %d, want %d", c.floor, c.live, c.base, got, c.want)
		}
	}
}

func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFloorRaisesTheHeapGoal: with a live heap of a few MB, GOGC=100
// collects at a goal far below the floor; with the tuner the goal is the
// floor, not much more; a live heap larger than the floor gets GOGC's
// default; Stop restores the percentage. (The goal is what spaces the
// collections; counting them under load depends on the scheduler.)
func TestFloorRaisesTheHeapGoal(t *testing.T) {
	const floor = 32 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC()
	if g := heapGoal(); g >= floor/2 {
		t.Fatalf("without the tuner the heap goal is already %d", g)
	}

	tu := Start(floor)
	t.Cleanup(tu.Stop)
	waitPercent(t, tu, func(p int) bool { return p > basePercent }, "with a small live heap")
	runtime.GC()
	if g := heapGoal(); g < floor*95/100 || g > floor*5/4 {
		t.Fatalf("with a %d-byte floor the heap goal is %d", floor, g)
	}

	live := make([]byte, 64<<20) // larger than the floor
	for i := range live {
		live[i] = 1
	}
	waitPercent(t, tu, func(p int) bool { return p == basePercent }, "with 64 MiB live")
	if g := heapGoal(); g < 2*uint64(len(live)) {
		t.Fatalf("with 64 MiB live the heap goal is %d, under GOGC=100's", g)
	}
	runtime.KeepAlive(live)

	tu.Stop()
	tu.Stop()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("after Stop the percentage is %d, want the one before Start", p)
	}
}

// waitPercent collects until the tuner's cleanup, which runs after the
// collection, has set a percentage that ok accepts.
func waitPercent(t *testing.T, tu *Tuner, ok func(int) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(tu.lastPercent()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s the percentage stayed %d", what, tu.lastPercent())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// lastPercent is the percentage the tuner last set.
func (t *Tuner) lastPercent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}
