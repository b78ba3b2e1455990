package memory_test

import (
	"testing"

	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/memory"
	"github.com/optibid/idp/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store { return memory.New(nil) })
}
