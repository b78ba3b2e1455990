package storagetest

import (
	"errors"
	"testing"

	"github.com/optibid/idp/storage"
)

func testClients(t *testing.T, s storage.Store) {
	c := storage.Client{ID: "web", Name: "Web", SecretHash: storage.HashSecret("s"), RedirectURIs: []string{"https://rp/cb"},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"org"}, RequireConsent: true, IDTokenSignedResponseAlg: "ES256",
		RequireMFA: true, RequireVerifiedEmail: true}
	_, err := s.UpsertClient(ctx, c, ev("client_upserted"))
	must(t, err)
	got, err := s.ClientByID(ctx, "web")
	must(t, err)
	if got.SecretHash != c.SecretHash || got.RedirectURIs[0] != "https://rp/cb" || !got.RequireConsent ||
		got.IDTokenSignedResponseAlg != "ES256" || len(got.PostLogoutRedirectURIs) != 0 || !got.RequireMFA || !got.RequireVerifiedEmail {
		t.Fatalf("client round trip: %+v", got)
	}
	c.RedirectURIs = []string{"https://rp/cb2"}
	_, err = s.UpsertClient(ctx, c, storage.AuditEvent{})
	must(t, err)
	all, err := s.ListClients(ctx)
	must(t, err)
	if len(all) != 1 || all[0].RedirectURIs[0] != "https://rp/cb2" {
		t.Fatalf("list: %+v", all)
	}
	if _, err := s.ClientByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

// testOrgClients: clients an organization registers are listed for it
// alone, keep their owner through updates, and deleting one revokes its
// grants.
func testOrgClients(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "apps", Name: "Apps"}, storage.AuditEvent{})
	must(t, err)
	_, err = s.UpsertClient(ctx, storage.Client{ID: "web", OrgID: o.ID, Name: "Org app", SecretHash: "h", GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{})
	must(t, err)
	_, err = s.UpsertClient(ctx, storage.Client{ID: "platform", Name: "Platform app"}, storage.AuditEvent{})
	must(t, err)
	// An update (as bootstrap would write it) does not move the owner.
	_, err = s.UpsertClient(ctx, storage.Client{ID: "web", Name: "Renamed", SecretHash: "h2"}, storage.AuditEvent{})
	must(t, err)
	list, err := s.ClientsOf(ctx, o.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != "web" || list[0].OrgID != o.ID || list[0].Name != "Renamed" {
		t.Fatalf("clients of the org: %+v", list)
	}
	if list, _ := s.ClientsOf(ctx, ""); len(list) != 0 {
		t.Fatalf("platform clients listed as an org's: %+v", list)
	}
	g, _ := grantWithToken(t, s) // a grant for client "web"
	must(t, s.DeleteClient(ctx, "web", now(), ev("client_deleted")))
	if _, err := s.ClientByID(ctx, "web"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
	if got, _ := s.GrantByID(ctx, g.ID); got.RevokedAt.IsZero() {
		t.Fatalf("grant of a deleted client still active: %+v", got)
	}
	if err := s.DeleteClient(ctx, "web", now(), ev("client_deleted")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if n := auditCount(t, s, "client_deleted"); n != 1 {
		t.Fatalf("client_deleted audit = %d", n)
	}
}
