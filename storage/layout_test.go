package storage_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBackendsShareFileNames keeps every aggregate in the same-named file in
// both backends and in the conformance suite, so that a reader finds one
// backend's code (and its tests) from the other's. Only the file holding each
// store itself differs (memory.go, postgres.go; storagetest.go for the
// suite's runner and helpers).
func TestBackendsShareFileNames(t *testing.T) {
	files := func(dir, own string) []string {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || filepath.Ext(name) != ".go" || strings.HasSuffix(name, "_test.go") {
				continue
			}
			if name == own {
				name = "(store).go"
			}
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	mem, pg, suite := files("memory", "memory.go"), files("postgres", "postgres.go"), files("storagetest", "storagetest.go")
	if !slices.Equal(mem, pg) || !slices.Equal(mem, suite) {
		t.Fatalf("storage/memory, storage/postgres and storage/storagetest must have the same files per aggregate:\nmemory:      %v\npostgres:    %v\nstoragetest: %v", mem, pg, suite)
	}
}
