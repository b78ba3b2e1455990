package api_test

import (
	"net/http"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// An unverified domain claim never blocks the domain's real owner, never
// removes another organization's claim, and claiming tells nothing about
// who verified a domain: only verification, which needs the DNS record
// bound to the organization, decides.
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
	// A later claim is accepted like any other (no oracle) and removes
	// nothing; it cannot be verified, even with the owner's record.
	if st, _ := e.API("POST", "/orgs/"+globex.ID+"/domains", carol, map[string]string{"domain": "acme-energy.example"}); st != http.StatusCreated {
		t.Fatalf("claiming a domain another organization verified: %d", st)
	}
	if _, list := e.API("GET", "/orgs/acme/domains", ada, nil); len(list["domains"].([]any)) != 1 {
		t.Fatalf("acme's domains after globex's claim: %v", list)
	}
	if st, _ := e.API("POST", "/orgs/globex/domains/acme-energy.example/verify", carol, nil); st != http.StatusUnprocessableEntity {
		t.Fatalf("globex verifying with acme's record: %d", st)
	}
	_, gd := e.API("GET", "/orgs/globex/domains", carol, nil)
	grec := gd["domains"].([]any)[0].(map[string]any)["record"].(map[string]any)
	e.DNS.Publish(grec["name"].(string), grec["value"].(string))
	if st, body := e.API("POST", "/orgs/globex/domains/acme-energy.example/verify", carol, nil); st != http.StatusConflict {
		t.Fatalf("a second verification (both records published): %d %v", st, body)
	}
	if o, err := e.App.Store.OrganizationByVerifiedDomain(t.Context(), "acme-energy.example"); err != nil || o.ID != acme.ID {
		t.Fatalf("owner of the domain: %+v %v", o, err)
	}
}
