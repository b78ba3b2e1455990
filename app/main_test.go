package app_test

import (
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The tests of the assembled process (configuration, bootstrap, the
// router's edge, readiness, replicas) run it in process through apptest.
func TestMain(m *testing.M) { apptest.Main(m) }
