package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// testAPIs: resource servers keyed by identifier, owned by the platform or
// one organization, which another owner can neither overwrite nor delete.
func testAPIs(t *testing.T, s storage.Store) {
	org, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "api-owner", Name: "API owner"}, storage.AuditEvent{})
	must(t, err)
	other, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "api-other", Name: "Other"}, storage.AuditEvent{})
	must(t, err)
	trading := storage.API{Identifier: "https://api.example/trading", Name: "Trading",
		Scopes:         []storage.APIScope{{Name: "bids:read", Description: "Read bids"}, {Name: "bids:submit", Description: "Submit bids"}},
		AccessTokenTTL: 5 * time.Minute, SigningAlg: "ES256", Claims: []string{"org", "permissions"}, RequireGrant: true}
	got, err := s.UpsertAPI(ctx, trading, ev("api_saved"))
	must(t, err)
	if got.CreatedAt.IsZero() || got.Identifier != trading.Identifier {
		t.Fatalf("upsert: %+v", got)
	}
	own := storage.API{Identifier: "https://own.example/api", Name: "Own", OrgID: org.ID}
	_, err = s.UpsertAPI(ctx, own, ev("api_saved"))
	must(t, err)
	// Another owner cannot take an identifier over.
	if _, err := s.UpsertAPI(ctx, storage.API{Identifier: trading.Identifier, OrgID: other.ID}, ev("api_saved")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("org overwriting a platform API: want ErrConflict, got %v", err)
	}
	if _, err := s.UpsertAPI(ctx, storage.API{Identifier: own.Identifier, OrgID: other.ID}, ev("api_saved")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("org overwriting another org's API: want ErrConflict, got %v", err)
	}
	if _, err := s.UpsertAPI(ctx, storage.API{Identifier: own.Identifier}, ev("api_saved")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("platform overwriting an org's API: want ErrConflict, got %v", err)
	}
	trading.Name = "Trading v2"
	_, err = s.UpsertAPI(ctx, trading, ev("api_saved"))
	must(t, err)
	list, err := s.ListAPIs(ctx)
	must(t, err)
	// Sorted by identifier: trading first.
	if len(list) != 2 || list[0].Name != "Trading v2" || list[0].AccessTokenTTL != 5*time.Minute || list[0].SigningAlg != "ES256" ||
		!list[0].RequireGrant || !slices.Equal(list[0].Claims, []string{"org", "permissions"}) || len(list[0].Scopes) != 2 ||
		list[0].Scopes[1] != (storage.APIScope{Name: "bids:submit", Description: "Submit bids"}) || list[1].OrgID != org.ID {
		t.Fatalf("list: %+v", list)
	}
	if err := s.DeleteAPI(ctx, own.Identifier, other.ID, ev("api_deleted")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting another org's API: want ErrNotFound, got %v", err)
	}
	must(t, s.DeleteAPI(ctx, own.Identifier, org.ID, ev("api_deleted")))
	if err := s.DeleteAPI(ctx, own.Identifier, org.ID, ev("api_deleted")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if n := auditCount(t, s, "api_saved"); n != 3 {
		t.Fatalf("api_saved audit rows = %d, want 3 (refused writes write none)", n)
	}
	// An organization's APIs go with it.
	_, err = s.UpsertAPI(ctx, storage.API{Identifier: "https://gone.example", OrgID: other.ID}, storage.AuditEvent{})
	must(t, err)
	must(t, s.DeleteOrganization(ctx, other.ID, storage.AuditEvent{}))
	list, _ = s.ListAPIs(ctx)
	if len(list) != 1 {
		t.Fatalf("after org deletion: %+v", list)
	}
}

// testClientAPIFields: what a client may do with APIs round-trips.
func testClientAPIFields(t *testing.T, s storage.Store) {
	org, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "svc-org", Name: "Svc"}, storage.AuditEvent{})
	must(t, err)
	c := storage.Client{ID: "svc", Name: "Robot", OrgID: org.ID, SecretHash: storage.HashSecret("s"), GrantTypes: []string{"client_credentials"},
		FirstParty: true, APIs: []string{"https://a", "https://b"}, DefaultAPI: "https://a", ActsFor: []string{"https://c"},
		ServiceRole: "admin", AllowedOrigins: []string{"https://spa.example"}}
	_, err = s.UpsertClient(ctx, c, ev("client_saved"))
	must(t, err)
	got, err := s.ClientByID(ctx, "svc")
	must(t, err)
	if !got.FirstParty || !slices.Equal(got.APIs, c.APIs) || got.DefaultAPI != "https://a" || !slices.Equal(got.ActsFor, c.ActsFor) ||
		got.ServiceRole != "admin" || !got.ServiceAccount() || !slices.Equal(got.AllowedOrigins, c.AllowedOrigins) {
		t.Fatalf("client: %+v", got)
	}
}

// testConsents: consent accumulates; erasure and client deletion take it.
func testConsents(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	_, err := s.UpsertClient(ctx, storage.Client{ID: "third", SecretHash: "x"}, storage.AuditEvent{})
	must(t, err)
	if _, err := s.ConsentOf(ctx, u.ID, "third"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no consent yet: %v", err)
	}
	must(t, s.GrantConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "third", Scopes: []string{"openid", "email"}, Resources: []string{"https://a"}}, ev("consent_granted")))
	must(t, s.GrantConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "third", Scopes: []string{"openid", "profile"}}, ev("consent_granted")))
	c, err := s.ConsentOf(ctx, u.ID, "third")
	must(t, err)
	if !slices.Equal(c.Scopes, []string{"email", "openid", "profile"}) || !slices.Equal(c.Resources, []string{"https://a"}) {
		t.Fatalf("consent union: %+v", c)
	}
	if n := auditCount(t, s, "consent_granted"); n != 2 {
		t.Fatalf("consent audit rows = %d", n)
	}
	must(t, s.DeleteClient(ctx, "third", now(), storage.AuditEvent{}))
	if _, err := s.ConsentOf(ctx, u.ID, "third"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("consent after client deletion: %v", err)
	}
	_, err = s.UpsertClient(ctx, storage.Client{ID: "third", SecretHash: "x"}, storage.AuditEvent{})
	must(t, err)
	must(t, s.GrantConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "third", Scopes: []string{"openid"}}, storage.AuditEvent{}))
	must(t, s.EraseUser(ctx, u.ID, "erased-x", storage.AuditEvent{}))
	if _, err := s.ConsentOf(ctx, u.ID, "third"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("consent after erasure: %v", err)
	}
}

// testRateLimits: hits count exactly per key and window, concurrently too.
func testRateLimits(t *testing.T, s storage.Store) {
	start := now().Truncate(time.Hour)
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Hit(ctx, "email:a@example.com", start, start.Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, err := s.Hit(ctx, "email:a@example.com", start, start.Add(time.Hour))
	must(t, err)
	if n != 31 {
		t.Fatalf("count %d, want 31", n)
	}
	if n, _ := s.Hit(ctx, "email:a@example.com", start.Add(time.Hour), start.Add(2*time.Hour)); n != 1 {
		t.Fatalf("next window %d", n)
	}
	if n, _ := s.Hit(ctx, "email:b@example.com", start, start.Add(time.Hour)); n != 1 {
		t.Fatalf("other key %d", n)
	}
}

// testRevokeConsent: withdrawing consent to a client also revokes the
// user's grants to it (not to other clients, not other users'), with its
// audit row.
func testRevokeConsent(t *testing.T, s storage.Store) {
	u, other := newUser(t, s), newUser(t, s)
	grant := func(user storage.User) string {
		_, code := completedRequest(t, s, user, time.Minute)
		gid := random.ID()
		_, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, gid,
			now().Add(time.Hour), now(), storage.AuditEvent{}, storage.AuditEvent{})
		must(t, err)
		return gid
	}
	mine, theirs := grant(u), grant(other)
	_, err := s.UpsertClient(ctx, storage.Client{ID: "web", SecretHash: "x"}, storage.AuditEvent{})
	must(t, err)
	must(t, s.GrantConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "web", Scopes: []string{"openid"}}, storage.AuditEvent{}))
	if list, err := s.ConsentsOf(ctx, u.ID); err != nil || len(list) != 1 || list[0].ClientID != "web" {
		t.Fatalf("consents: %+v %v", list, err)
	}
	must(t, s.RevokeConsent(ctx, u.ID, "web", now(), ev("consent_revoked")))
	if g, err := s.GrantByID(ctx, mine); err != nil || g.RevokedAt.IsZero() {
		t.Fatalf("the user's grant after revoking consent: %+v %v", g, err)
	}
	if g, err := s.GrantByID(ctx, theirs); err != nil || !g.RevokedAt.IsZero() {
		t.Fatalf("another user's grant was revoked: %+v %v", g, err)
	}
	if list, _ := s.ConsentsOf(ctx, u.ID); len(list) != 0 {
		t.Fatalf("consents after revoking: %+v", list)
	}
	if err := s.RevokeConsent(ctx, u.ID, "web", now(), ev("consent_revoked")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	if n := auditCount(t, s, "consent_revoked"); n != 1 {
		t.Fatalf("consent_revoked rows: %d", n)
	}
}
