package api_test

import (
	"net/http"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// An unverified domain claim never blocks the domain's real owner.
func TestUnverifiedDomainClaimsDoNotBlockTheOwner(t *testing.T) {
	t.Parallel()
	e, acme, globex := adminEnv(t, "memory")
	carol := e.TokenOf("carol@globex.example")
	if st, _ := e.API("POST", "/orgs/"+globex.ID+"/domains", carol, map[string]string{"domain": "acme-energy.example"}); st != http.StatusCreated {
		t.Fatalf("squatter's claim: %d", st)
	}
	ada := e.TokenOf(apptest.UserEmail)
	st, d := e.API("POST", "/orgs/"+acme.ID+"/domains", ada, map[string]string{"domain": "acme-energy.example"})
	if st != http.StatusCreated {
		t.Fatalf("the owner's claim after a squatter's: %d %v", st, d)
	}
	rec := d["record"].(map[string]any)
	e.DNS.Publish(rec["name"].(string), rec["value"].(string))
	if st, d := e.API("POST", "/orgs/"+acme.ID+"/domains/acme-energy.example/verify", ada, nil); st != http.StatusOK || d["verified"] != true {
		t.Fatalf("the owner's verification: %d %v", st, d)
	}
	if st, _ := e.API("POST", "/orgs/"+globex.ID+"/domains", carol, map[string]string{"domain": "acme-energy.example"}); st != http.StatusConflict {
		t.Fatalf("claiming a domain another organization verified: %d", st)
	}
}
