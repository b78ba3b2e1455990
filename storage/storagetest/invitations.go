package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// testInvitationByToken: a link finds its invitation in any state, and
// nothing else; the invitation keeps its language.
func testInvitationByToken(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "by-token", Name: "By token"}, storage.AuditEvent{})
	must(t, err)
	tok, at := random.Token(32), now()
	inv := storage.Invitation{ID: random.ID(), OrgID: o.ID, Email: "x@example.com", Role: "admin", TokenHash: storage.HashSecret(tok),
		InvitedBy: "admin-1", Language: "de", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.CreateInvitation(ctx, inv, ev("invitation_created")))
	got, err := s.InvitationByTokenHash(ctx, storage.HashSecret(tok))
	if err != nil || got.ID != inv.ID || got.OrgID != o.ID || got.Role != "admin" || got.Language != "de" || !got.Pending(at) {
		t.Fatalf("by token: %+v %v", got, err)
	}
	must(t, s.RevokeInvitation(ctx, o.ID, inv.ID, at, ev("invitation_revoked")))
	if got, err := s.InvitationByTokenHash(ctx, storage.HashSecret(tok)); err != nil || got.RevokedAt.IsZero() {
		t.Fatalf("a revoked invitation by token: %+v %v", got, err)
	}
	if _, err := s.InvitationByTokenHash(ctx, storage.HashSecret("other")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

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
	if list[0].Language != "en" {
		t.Fatalf("an invitation without a language is English: %q", list[0].Language)
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
