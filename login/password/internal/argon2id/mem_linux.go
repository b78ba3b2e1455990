//go:build linux

package argon2id

import (
	"runtime"
	"syscall"
	"unsafe"
)

// mapping is the anonymous mapping behind a Memory's blocks, and the
// cleanup that unmaps it if the Memory is dropped without Release.
type mapping struct {
	raw     []byte
	cleanup runtime.Cleanup
}

// alloc maps n zeroed blocks outside the Go heap. If the kernel refuses,
// it allocates them on the heap, as upstream does.
func (m *Memory) alloc(n uint32) []block {
	size := int(n) * int(unsafe.Sizeof(block{}))
	raw, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]block, n)
	}
	m.own = mapping{raw: raw, cleanup: runtime.AddCleanup(m, unmap, raw)}
	// A block holds no pointers, so memory the collector does not manage
	// may hold it.
	return unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(raw))), n)
}

// unmap releases the mapping, if there is one. The cleanup is stopped
// first, so the range is unmapped once.
func (m *Memory) unmap() {
	if m.own.raw == nil {
		return
	}
	m.own.cleanup.Stop()
	unmap(m.own.raw)
	m.own = mapping{}
}

// unmap is also the cleanup, which must not refer to the Memory.
// syscall.Munmap refuses a range it did not map, so it cannot unmap
// anything but this mapping; the error is then a bug here, not a
// condition to handle.
func unmap(raw []byte) { _ = syscall.Munmap(raw) }
