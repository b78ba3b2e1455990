package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// testPrivacy: the access export sees everything about a user, erasure
// removes it in one step, refuses to orphan an organization, and leaves
// the audit rows in place, pseudonymized.
func testPrivacy(t *testing.T, s storage.Store) {
	g, tok := grantWithToken(t, s)
	uid := g.UserID
	u, err := s.UserByID(ctx, uid)
	must(t, err)
	other := newUser(t, s)
	at := now()
	must(t, s.LoginSucceeded(ctx, uid, nil, now(), "", storage.Session{IDHash: storage.HashSecret("priv-s"), UserID: uid, AuthTime: at,
		AMR: []string{"pwd"}, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour), IP: "192.0.2.7", UserAgent: "Firefox"},
		storage.AuditEvent{Type: "login_succeeded", ActorID: uid, SubjectID: uid, IP: "192.0.2.7", UserAgent: "Firefox",
			Details: map[string]string{"email": u.Email, "method": "password"}}))
	must(t, s.SaveTOTP(ctx, storage.TOTP{UserID: uid, SecretSealed: []byte("sealed"), CreatedAt: at}, storage.AuditEvent{}))
	must(t, s.ReplaceBackupCodes(ctx, uid, []string{"h1", "h2"}, at, storage.AuditEvent{}))
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "privacy-org", Name: "Privacy"}, storage.AuditEvent{})
	must(t, err)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: uid, OrgID: o.ID, Role: "owner"}, storage.AuditEvent{}))
	// A failed login naming the email without the user ID, and another
	// user's event: only the first is the user's.
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "login_failed", IP: "192.0.2.7", Details: map[string]string{"email": u.Email}}))
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "login_succeeded", ActorID: other.ID, SubjectID: other.ID, IP: "198.51.100.1",
		Details: map[string]string{"email": other.Email}}))

	d, err := s.UserData(ctx, uid)
	must(t, err)
	if d.User.Email != u.Email || len(d.Memberships) != 1 || len(d.Sessions) != 1 || d.Sessions[0].IP != "192.0.2.7" ||
		len(d.Grants) != 1 || d.Grants[0].ID != g.ID || d.TOTP == nil || d.BackupCodes != 2 {
		t.Fatalf("user data: %+v", d)
	}
	if len(d.Audit) == 0 || d.Audit[len(d.Audit)-1].Type != "login_succeeded" {
		t.Fatalf("user data audit: %+v", d.Audit)
	}
	if _, err := s.UserData(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}

	// The last owner of an organization cannot be erased; nothing changes.
	if err := s.EraseUser(ctx, uid, "erased-1", ev("user_erased")); !errors.Is(err, storage.ErrLastOwner) {
		t.Fatalf("last owner: want ErrLastOwner, got %v", err)
	}
	if _, err := s.UserByID(ctx, uid); err != nil {
		t.Fatalf("refused erasure changed the user: %v", err)
	}
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: other.ID, OrgID: o.ID, Role: "owner"}, storage.AuditEvent{}))
	must(t, s.EraseUser(ctx, uid, "erased-1", ev("user_erased")))

	if _, err := s.UserByID(ctx, uid); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user after erasure: %v", err)
	}
	if _, err := s.UserByEmail(ctx, u.Email); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("email after erasure: %v", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, storage.HashSecret(tok)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refresh token after erasure: %v", err)
	}
	if _, err := s.SessionByHash(ctx, storage.HashSecret("priv-s")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session after erasure: %v", err)
	}
	if ms, _ := s.MembersOf(ctx, o.ID); len(ms) != 1 || ms[0].UserID != other.ID {
		t.Fatalf("members after erasure: %+v", ms)
	}
	if _, err := s.TOTPByUser(ctx, uid); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("TOTP after erasure: %v", err)
	}
	// The audit rows stay, pseudonymized; other users' rows are untouched.
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{ActorID: uid}); len(evs) != 0 {
		t.Fatalf("rows still name the user: %+v", evs)
	}
	evs, err := s.ListAudit(ctx, storage.AuditFilter{ActorID: "erased-1"})
	must(t, err)
	if len(evs) == 0 {
		t.Fatal("the user's audit rows are gone")
	}
	all, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, err)
	for _, e := range all {
		if e.Details["email"] == u.Email || (e.ActorID == "erased-1" && (e.IP != "" || e.UserAgent != "")) {
			t.Fatalf("personal data left in the audit log: %+v", e)
		}
		if e.ActorID == "erased-1" && e.Type == "login_succeeded" && e.Details["method"] != "password" {
			t.Fatalf("non-personal details removed: %+v", e)
		}
		if e.ActorID == other.ID && (e.IP != "198.51.100.1" || e.Details["email"] != other.Email) {
			t.Fatalf("another user's row changed: %+v", e)
		}
	}
	if n := auditCount(t, s, "user_erased"); n != 1 {
		t.Fatalf("user_erased audit = %d", n)
	}
	if err := s.EraseUser(ctx, uid, "erased-2", ev("user_erased")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("erasing twice: %v", err)
	}
}

// testOrgDeletion: deleting an organization takes what belongs to it and
// leaves the members' accounts and the audit log; platform admins are
// granted and withdrawn.
func testOrgDeletion(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	o, err := s.CreateOrganization(ctx, storage.Organization{Slug: "doomed", Name: "Doomed", Plan: "enterprise"}, u.ID, ev("organization_created"))
	must(t, err)
	if ms, _ := s.MembersOf(ctx, o.ID); len(ms) != 1 || ms[0].UserID != u.ID || ms[0].Role != "owner" || o.Plan != "enterprise" || o.MFAPolicy != "optional" {
		t.Fatalf("created: %+v, members %+v", o, ms)
	}
	if _, err := s.CreateOrganization(ctx, storage.Organization{Slug: "doomed", Name: "Again"}, u.ID, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken slug: %v", err)
	}
	if _, err := s.CreateOrganization(ctx, storage.Organization{Slug: "orphan", Name: "Orphan"}, "no-such-user", storage.AuditEvent{}); err == nil {
		t.Fatal("created with an unknown owner")
	}
	if _, err := s.OrganizationBySlug(ctx, "orphan"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("half-created organization: %v", err)
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: o.ID, Domain: "doomed.example", VerifiedAt: now()}, storage.AuditEvent{}))
	must(t, s.CreateInvitation(ctx, storage.Invitation{ID: "inv-doomed", OrgID: o.ID, Email: "x@doomed.example", Role: "member",
		TokenHash: storage.HashSecret("doomed"), CreatedAt: now(), ExpiresAt: now().Add(time.Hour)}, storage.AuditEvent{}))
	// A client of the organization holding a user's grant.
	_, err = s.UpsertClient(ctx, storage.Client{ID: "doomed-app", OrgID: o.ID, SecretHash: "x"}, storage.AuditEvent{})
	must(t, err)
	arq := storage.AuthRequest{ID: random.ID(), ClientID: "doomed-app", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", CreatedAt: now(), ExpiresAt: now().Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, arq))
	must(t, s.CompleteAuthRequest(ctx, arq.ID, u.ID, now(), nil, "s"))
	must(t, s.SaveAuthCode(ctx, arq.ID, storage.HashSecret("doomed-code"), now().Add(time.Minute)))
	gid := random.ID()
	_, err = s.RedeemCode(ctx, storage.HashSecret("doomed-code"), storage.CodeBinding{ClientID: "doomed-app", RedirectURI: "x"}, gid, now().Add(time.Hour), now(), storage.AuditEvent{}, storage.AuditEvent{})
	must(t, err)
	must(t, s.DeleteOrganization(ctx, o.ID, storage.AuditEvent{Type: "organization_deleted", OrgID: o.ID}))
	if g, err := s.GrantByID(ctx, gid); err != nil || g.RevokedAt.IsZero() {
		t.Fatalf("a grant of the organization's client outlived it: %+v %v", g, err)
	}
	if _, err := s.ClientByID(ctx, "doomed-app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the organization's client outlived it: %v", err)
	}
	if _, err := s.OrganizationByID(ctx, o.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("organization after deletion: %v", err)
	}
	if ms, _ := s.MembershipsByUser(ctx, u.ID); len(ms) != 0 {
		t.Fatalf("memberships after deletion: %+v", ms)
	}
	if _, err := s.OrganizationByVerifiedDomain(ctx, "doomed.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("domain after deletion: %v", err)
	}
	if list, _ := s.InvitationsOf(ctx, o.ID); len(list) != 0 {
		t.Fatalf("invitations after deletion: %+v", list)
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Fatalf("member's account went with the organization: %v", err)
	}
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{OrgID: o.ID}); len(evs) == 0 {
		t.Fatal("the organization's audit rows went with it")
	}
	if err := s.DeleteOrganization(ctx, o.ID, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	must(t, s.SetPlatformAdmin(ctx, u.ID, true, ev("platform_admin_granted")))
	if got, _ := s.UserByID(ctx, u.ID); !got.PlatformAdmin {
		t.Fatal("platform admin not stored")
	}
	must(t, s.SetPlatformAdmin(ctx, u.ID, false, ev("platform_admin_withdrawn")))
	if got, _ := s.UserByEmail(ctx, u.Email); got.PlatformAdmin {
		t.Fatal("platform admin not withdrawn")
	}
}

// testSignUpAtomic: a sign-up's user, organization and ownership land
// together or not at all.
func testSignUpAtomic(t *testing.T, s storage.Store) {
	u, o, err := s.CreateUserWithOrganization(ctx, storage.User{Email: "Founder@Startup.example", Name: "F"},
		storage.Organization{Slug: "startup-1a2b3c", Name: "Startup"}, ev("user_registered"), ev("organization_created"))
	must(t, err)
	if ms, _ := s.MembershipsByUser(ctx, u.ID); len(ms) != 1 || ms[0].OrgID != o.ID || ms[0].Role != "owner" || u.Email != "founder@startup.example" {
		t.Fatalf("sign-up: %+v %+v %+v", u, o, ms)
	}
	if n := auditCount(t, s, "organization_created"); n != 1 {
		t.Fatalf("organization_created rows %d", n)
	}
	// A taken slug: no user either.
	if _, _, err := s.CreateUserWithOrganization(ctx, storage.User{Email: "second@startup.example"},
		storage.Organization{Slug: "startup-1a2b3c", Name: "Again"}, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken slug: %v", err)
	}
	if _, err := s.UserByEmail(ctx, "second@startup.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user left behind by a failed sign-up: %v", err)
	}
	// A taken email: no organization either.
	if _, _, err := s.CreateUserWithOrganization(ctx, storage.User{Email: "founder@startup.example"},
		storage.Organization{Slug: "startup-9z9z9z", Name: "Dup"}, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken email: %v", err)
	}
	if _, err := s.OrganizationBySlug(ctx, "startup-9z9z9z"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("organization left behind by a failed sign-up: %v", err)
	}
	must(t, s.SetJoinByDomain(ctx, o.ID, true, storage.AuditEvent{}))
	if got, _ := s.OrganizationByID(ctx, o.ID); !got.JoinByDomain {
		t.Fatal("join_by_domain not stored")
	}
}
