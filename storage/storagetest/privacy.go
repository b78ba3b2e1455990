package storagetest

import (
	"errors"
	"testing"
	"time"

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
			Details: map[string]string{"email": u.Email, "method": "password"}}, storage.AuditEvent{}))
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
