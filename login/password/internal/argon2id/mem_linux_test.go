//go:build linux

package argon2id

import (
	"bytes"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/crypto/argon2"
)

// TestWorkingMemoryOffTheHeap: a 16 MiB working set is not on the Go
// heap, Release unmaps it at once (twice is harmless), and the Memory
// still hashes correctly afterwards.
func TestWorkingMemoryOffTheHeap(t *testing.T) {
	pw, salt := []byte("off the heap"), []byte("sixteen byte salt")
	want := argon2.IDKey(pw, salt, 1, 16*1024, 1, 32)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := new(Memory)
	if got := m.Key(pw, salt, 1, 16*1024, 1, 32); !bytes.Equal(got, want) {
		t.Fatal("wrong key from mapped memory")
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("the heap grew by %d bytes for a 16 MiB working set", grew)
	}
	if m.own.raw == nil {
		t.Fatal("no mapping behind the working set")
	}
	raw := m.own.raw
	m.Release()
	m.Release()
	if m.Size() != 0 || m.own.raw != nil {
		t.Fatalf("after Release: %d KiB, mapping %v", m.Size(), m.own.raw != nil)
	}
	if mapped(raw) {
		t.Fatal("Release left the range mapped")
	}
	if got := m.Key(pw, salt, 1, 16*1024, 1, 32); !bytes.Equal(got, want) {
		t.Fatal("wrong key after Release")
	}
	m.Release()
}

// TestDroppedMemoryIsUnmapped: a Memory the caller forgets to Release
// is unmapped once the collector finds it unreachable.
func TestDroppedMemoryIsUnmapped(t *testing.T) {
	m := new(Memory)
	m.Key([]byte("dropped"), []byte("sixteen byte salt"), 1, 1024, 1, 32)
	raw := m.own.raw
	m = nil
	for range 50 {
		runtime.GC()
		if !mapped(raw) {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("a dropped Memory's mapping is still there")
}

// mapped reports whether raw's first page is mapped: mincore fails with
// ENOMEM for an address with no mapping, and has no side effect.
func mapped(raw []byte) bool {
	var vec [1]byte
	_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(raw))), 4096,
		uintptr(unsafe.Pointer(&vec[0])))
	return errno != syscall.ENOMEM
}
