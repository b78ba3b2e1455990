package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func testInvitations(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "inviting", Name: "Inviting"}, storage.AuditEvent{})
	must(t, err)
	other, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "elsewhere", Name: "Elsewhere"}, storage.AuditEvent{})
	must(t, err)
	u := newUser(t, s)
	stranger := newUser(t, s)
	at := now()
	invite := func(email string, ttl time.Duration) (storage.Invitation, string) {
		tok := random.Token(32)
		inv := storage.Invitation{ID: random.ID(), OrgID: o.ID, Email: email, Role: "member", TokenHash: storage.HashSecret(tok),
			InvitedBy: "admin-1", CreatedAt: at, ExpiresAt: at.Add(ttl)}
		must(t, s.CreateInvitation(ctx, inv, ev("invitation_created")))
		return inv, tok
	}
	inv, tok := invite(u.Email, time.Hour)
	list, err := s.InvitationsOf(ctx, o.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != inv.ID || !list[0].Pending(at) {
		t.Fatalf("list: %+v", list)
	}
	// Someone else cannot use it; an unknown token is not found.
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok), stranger, at, anyInviter, ev("invitation_accepted")); !errors.Is(err, storage.ErrMismatch) {
		t.Fatalf("other email: want ErrMismatch, got %v", err)
	}
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret("nope"), u, at, anyInviter, ev("invitation_accepted")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	// Exactly one of two concurrent acceptances wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AcceptInvitation(ctx, storage.HashSecret(tok), u, at, anyInviter, ev("invitation_accepted"))
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent acceptances: %v, %v", errs[0], errs[1])
	}
	if ms, _ := s.MembershipsByUser(ctx, u.ID); len(ms) != 1 || ms[0].OrgID != o.ID || ms[0].Role != "member" {
		t.Fatalf("membership: %+v", ms)
	}
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok), u, at, anyInviter, ev("invitation_accepted")); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("second use: %v", err)
	}
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{Type: "invitation_accepted", OrgID: o.ID}); len(evs) != 1 {
		t.Fatalf("invitation_accepted audit rows in the org = %d", len(evs))
	}
	// Already a member: a second invitation cannot be accepted.
	_, tok2 := invite(u.Email, time.Hour)
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok2), u, at, anyInviter, ev("invitation_accepted")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("already a member: %v", err)
	}
	// Expiry and revocation (not from another organization).
	_, tok3 := invite(stranger.Email, time.Minute)
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok3), stranger, at.Add(time.Minute), anyInviter, ev("invitation_accepted")); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	inv4, tok4 := invite(stranger.Email, time.Hour)
	if err := s.RevokeInvitation(ctx, other.ID, inv4.ID, at, ev("invitation_revoked")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoked through another org: %v", err)
	}
	must(t, s.RevokeInvitation(ctx, o.ID, inv4.ID, at, ev("invitation_revoked")))
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok4), stranger, at, anyInviter, ev("invitation_accepted")); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("revoked: %v", err)
	}
	if err := s.RevokeInvitation(ctx, o.ID, inv4.ID, at, ev("invitation_revoked")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	if ms, _ := s.MembershipsByUser(ctx, stranger.ID); len(ms) != 0 {
		t.Fatalf("stranger became a member: %+v", ms)
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

// testDashboards: the widget library, per-user layouts and usage counters;
// erasure takes the user's layouts and usage along.
func testDashboards(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "dash", Name: "Dash"}, storage.AuditEvent{})
	must(t, err)
	u := newUser(t, s)
	must(t, s.UpsertWidget(ctx, storage.Widget{Key: "prices", Name: "Prices", RequiredFeatures: []string{"market.view"}, Config: []byte(`{"rows":10}`)}, ev("widget_defined")))
	must(t, s.UpsertWidget(ctx, storage.Widget{Key: "bids", Name: "Bids", RequiredFeatures: []string{"bids.day_ahead"}}, storage.AuditEvent{}))
	ws, err := s.ListWidgets(ctx)
	must(t, err)
	if len(ws) != 2 || ws[1].Key != "prices" || ws[1].RequiredFeatures[0] != "market.view" {
		t.Fatalf("widgets: %+v", ws)
	}
	jsonEq(t, ws[1].Config, `{"rows":10}`)
	if _, err := s.Dashboard(ctx, u.ID, o.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no layout yet: %v", err)
	}
	must(t, s.SetDashboard(ctx, u.ID, o.ID, []byte(`{"widgets":[{"key":"prices"}]}`), now()))
	must(t, s.SetDashboard(ctx, u.ID, o.ID, []byte(`{"widgets":[{"key":"bids"}]}`), now()))
	got, err := s.Dashboard(ctx, u.ID, o.ID)
	must(t, err)
	jsonEq(t, got, `{"widgets":[{"key":"bids"}]}`)
	day := time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC)
	for range 3 {
		must(t, s.RecordUsage(ctx, storage.UsageCount{OrgID: o.ID, UserID: u.ID, FeatureKey: "market.view", Day: day, Count: 2}))
	}
	must(t, s.RecordUsage(ctx, storage.UsageCount{OrgID: o.ID, FeatureKey: "market.view", Day: day.AddDate(0, 0, 1), Count: 1}))
	usage, err := s.UsageOf(ctx, o.ID, day.AddDate(0, 0, -1), day.AddDate(0, 0, 1))
	must(t, err)
	if len(usage) != 1 || usage[0].Count != 6 || !usage[0].Day.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) || usage[0].UserID != u.ID {
		t.Fatalf("usage: %+v", usage)
	}
	d, err := s.UserData(ctx, u.ID)
	must(t, err)
	jsonEq(t, d.Dashboards[o.ID], `{"widgets":[{"key":"bids"}]}`)
	if len(d.Usage) != 1 || d.Usage[0].Count != 6 || d.Usage[0].FeatureKey != "market.view" {
		t.Fatalf("user data usage: %+v", d.Usage)
	}
	must(t, s.EraseUser(ctx, u.ID, "erased-dash", storage.AuditEvent{}))
	if usage, _ := s.UsageOf(ctx, o.ID, day.AddDate(0, 0, -1), day.AddDate(0, 0, 2)); len(usage) != 1 || usage[0].UserID != "" {
		t.Fatalf("usage after erasure: %+v", usage)
	}
	if _, err := s.Dashboard(ctx, u.ID, o.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("layout after erasure: %v", err)
	}
}

// anyInviter lets every invitation through the inviter check.
func anyInviter(string, string, bool) bool { return true }

// testInvitationInviterRights: an invitation carries no more authority
// than its inviter still has when it is accepted.
func testInvitationInviterRights(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "inviter-rights", Name: "Rights"}, storage.AuditEvent{})
	must(t, err)
	admin, joiner := newUser(t, s), newUser(t, s)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: admin.ID, OrgID: o.ID, Role: "admin"}, storage.AuditEvent{}))
	at := now()
	tok := random.Token(32)
	must(t, s.CreateInvitation(ctx, storage.Invitation{ID: random.ID(), OrgID: o.ID, Email: joiner.Email, Role: "admin",
		TokenHash: storage.HashSecret(tok), InvitedBy: admin.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, storage.AuditEvent{}))
	var seen string
	may := func(role, invited string, _ bool) bool {
		seen = role
		return invited == "admin" && (role == "admin" || role == "owner")
	}
	// The inviter is demoted to member: the admin invitation fails.
	must(t, s.SetMemberRole(ctx, o.ID, admin.ID, "member", storage.AuditEvent{}))
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok), joiner, at, may, ev("invitation_accepted")); !errors.Is(err, storage.ErrRevoked) || seen != "member" {
		t.Fatalf("invitation of a demoted inviter: %v (saw %q)", err, seen)
	}
	if ms, _ := s.MembershipsByUser(ctx, joiner.ID); len(ms) != 0 {
		t.Fatalf("joined through a demoted inviter: %+v", ms)
	}
	must(t, s.SetMemberRole(ctx, o.ID, admin.ID, "admin", storage.AuditEvent{}))
	if _, err := s.AcceptInvitation(ctx, storage.HashSecret(tok), joiner, at, may, ev("invitation_accepted")); err != nil {
		t.Fatalf("invitation of an inviter with the rights: %v", err)
	}
}
