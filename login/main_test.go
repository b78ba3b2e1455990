package login_test

import (
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The end-to-end tests of the sign-in screens run the whole provider in
// process through apptest.
func TestMain(m *testing.M) { apptest.Main(m) }
