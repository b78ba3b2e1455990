package federation_test

import (
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// Federation is tested end to end: a downstream provider signs people in
// through an upstream one (our own, or oidctest's OP shaped like a
// preset), both in process through apptest.
func TestMain(m *testing.M) { apptest.Main(m) }
