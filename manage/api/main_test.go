package api_test

import (
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// The management API's tests run the whole provider in process through
// apptest: its tokens come from the provider's own sign-in.
func TestMain(m *testing.M) { apptest.Main(m) }

// adminEnv starts a provider with apptest.Tenants: acme (ada owner, bob
// member), globex (carol owner), and dave in no organization.
func adminEnv(t *testing.T, backend string, more ...func(*app.Config)) (*apptest.Env, storage.Organization, storage.Organization) {
	e := apptest.New(t, backend, append([]func(*app.Config){apptest.Tenants}, more...)...)
	return e, e.Org("acme"), e.Org("globex")
}
