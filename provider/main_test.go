package provider_test

import (
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The end-to-end tests of the protocol endpoints run the whole provider
// in process through apptest.
func TestMain(m *testing.M) { apptest.Main(m) }
