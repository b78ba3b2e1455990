//go:build !linux

package argon2id

// mapping is empty where the blocks live on the heap.
type mapping struct{}

// alloc allocates n zeroed blocks on the heap, as upstream does.
func (m *Memory) alloc(n uint32) []block { return make([]block, n) }

// unmap has nothing to do: the collector frees heap blocks.
func (m *Memory) unmap() {}
