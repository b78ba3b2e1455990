package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func testOrgPolicyAndDomains(t *testing.T, s storage.Store) {
	a, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "a", Name: "A"}, storage.AuditEvent{})
	must(t, err)
	if a.MFAPolicy != "optional" {
		t.Fatalf("default MFA policy %q", a.MFAPolicy)
	}
	must(t, s.SetMFAPolicy(ctx, a.ID, "required", ev("mfa_policy_changed")))
	if got, _ := s.OrganizationByID(ctx, a.ID); got.MFAPolicy != "required" {
		t.Fatalf("policy %q", got.MFAPolicy)
	}
	must(t, s.SetEmailPolicy(ctx, a.ID, true, ev("email_policy_changed")))
	if got, _ := s.OrganizationByID(ctx, a.ID); !got.RequireVerifiedEmail || got.MFAPolicy != "required" {
		t.Fatalf("email policy: %+v", got)
	}
	if err := s.SetEmailPolicy(ctx, "nope", true, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
	if err := s.SetMFAPolicy(ctx, "nope", "off", storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
	b, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "b", Name: "B"}, storage.AuditEvent{})
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "Acme.Example"}, storage.AuditEvent{}))
	if _, err := s.OrganizationByVerifiedDomain(ctx, "acme.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unverified domain matched: %v", err)
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "acme.example", VerifiedAt: now()}, ev("domain_verified")))
	if got, err := s.OrganizationByVerifiedDomain(ctx, "ACME.example"); err != nil || got.ID != a.ID {
		t.Fatalf("verified domain: %+v %v", got, err)
	}
	// An unverified claim never blocks the real owner; a verified one does.
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: b.ID, Domain: "squat.example"}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "squat.example"}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "squat.example", VerifiedAt: now()}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "squat.example"}, storage.AuditEvent{})) // re-adding keeps it verified
	if o, err := s.OrganizationByVerifiedDomain(ctx, "squat.example"); err != nil || o.ID != a.ID {
		t.Fatalf("squatted domain after the owner verified it: %+v %v", o, err)
	}
	if err := s.AddDomain(ctx, storage.OrganizationDomain{OrgID: b.ID, Domain: "squat.example"}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("claiming another organization's verified domain: %v", err)
	}
	if err := s.AddDomain(ctx, storage.OrganizationDomain{OrgID: b.ID, Domain: "acme.example", VerifiedAt: now()}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("domain taken by another org: %v", err)
	}
}

func testPhonePendingSessions(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	must(t, s.SetPhone(ctx, u.ID, "+41791234567", true, ev("phone_verified")))
	if got, _ := s.UserByID(ctx, u.ID); got.Phone != "+41791234567" || !got.PhoneVerified {
		t.Fatalf("phone: %+v", got)
	}
	ar, _ := completedRequest(t, s, u, time.Minute)
	if err := s.SetPendingLogin(ctx, ar.ID, u.ID, []string{"pwd"}, now()); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("pending after code: %v", err)
	}
	at := now()
	fresh := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", CreatedAt: at,
		ExpiresAt: at.Add(time.Minute), Connection: "acme-okta"}
	must(t, s.CreateAuthRequest(ctx, fresh))
	must(t, s.SetPendingLogin(ctx, fresh.ID, u.ID, []string{"pwd"}, at))
	got, _ := s.AuthRequestByID(ctx, fresh.ID)
	if got.PendingUserID != u.ID || got.PendingAMR[0] != "pwd" || !got.PendingAt.Equal(at) || got.Done || got.Connection != "acme-okta" {
		t.Fatalf("pending: %+v", got)
	}
	for i, exp := range []time.Duration{time.Hour, 2 * time.Hour, -time.Minute} {
		sess := storage.Session{IDHash: storage.HashSecret(random.ID()), UserID: u.ID, AuthTime: at, CreatedAt: at.Add(time.Duration(i) * time.Second),
			LastSeenAt: at, ExpiresAt: at.Add(exp)}
		must(t, s.LoginSucceeded(ctx, u.ID, nil, now(), "", sess, storage.AuditEvent{}))
	}
	list, err := s.SessionsByUser(ctx, u.ID, at)
	must(t, err)
	if len(list) != 2 || list[0].CreatedAt.Before(list[1].CreatedAt) {
		t.Fatalf("sessions: %+v", list)
	}
}

func testActionTokens(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	at := now()
	tok := storage.ActionToken{Hash: storage.HashSecret("t1"), Purpose: storage.PurposeResetPassword, UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.CreateActionToken(ctx, tok, ev("password_reset_requested")))
	if _, err := s.ConsumeActionToken(ctx, tok.Hash, storage.PurposeVerifyEmail, at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other purpose: %v", err)
	}
	if _, err := s.ConsumeActionToken(ctx, tok.Hash, storage.PurposeResetPassword, at.Add(2*time.Hour)); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ConsumeActionToken(ctx, tok.Hash, storage.PurposeResetPassword, at)
			if err == nil && got.UserID == u.ID {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, storage.ErrAlreadyUsed) {
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("token consumed %d times", wins)
	}
	if _, err := s.ConsumeActionToken(ctx, "nope", storage.PurposeResetPassword, at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func testTOTP(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	if _, err := s.TOTPByUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no totp: %v", err)
	}
	at := now()
	must(t, s.SaveTOTP(ctx, storage.TOTP{UserID: u.ID, SecretSealed: []byte("sealed"), CreatedAt: at}, ev("totp_enrollment_started")))
	got, _ := s.TOTPByUser(ctx, u.ID)
	if !got.ConfirmedAt.IsZero() || string(got.SecretSealed) != "sealed" {
		t.Fatalf("pending totp: %+v", got)
	}
	must(t, s.ConfirmTOTP(ctx, u.ID, 100, at, ev("totp_enrolled")))
	if err := s.UseTOTPStep(ctx, u.ID, 100); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("enrollment step reused: %v", err)
	}
	race(t, func(int) error { return s.UseTOTPStep(ctx, u.ID, 101) })
	if err := s.UseTOTPStep(ctx, u.ID, 99); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("older step: %v", err)
	}
	must(t, s.UseTOTPStep(ctx, u.ID, 103))
	must(t, s.DeleteTOTP(ctx, u.ID, ev("totp_removed")))
	if _, err := s.TOTPByUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

func testBackupCodes(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	must(t, s.ReplaceBackupCodes(ctx, u.ID, []string{"h1", "h2", "h3"}, now(), ev("backup_codes_generated")))
	if n, _ := s.BackupCodesRemaining(ctx, u.ID); n != 3 {
		t.Fatalf("remaining %d", n)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.UseBackupCode(ctx, u.ID, "h2", now(), ev("backup_code_used")) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n, _ := s.BackupCodesRemaining(ctx, u.ID); wins != 1 || n != 2 {
		t.Fatalf("wins %d remaining %d", wins, n)
	}
	must(t, s.ReplaceBackupCodes(ctx, u.ID, []string{"h4"}, now(), storage.AuditEvent{}))
	if err := s.UseBackupCode(ctx, u.ID, "h1", now(), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("old set still usable: %v", err)
	}
	if n := auditCount(t, s, "backup_code_used"); n != 1 {
		t.Fatalf("audit rows %d", n)
	}
}

func testOTPChallenges(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	at := now()
	c := storage.OTPChallenge{ID: random.ID(), AuthRequestID: "ar1", UserID: u.ID, Channel: "sms", Destination: "+41791234567",
		CodeHash: "good", CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	must(t, s.CreateOTPChallenge(ctx, c, ev("otp_sent")))
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar2", "good", 5, at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other transaction: %v", err)
	}
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar1", "bad", 5, at); !errors.Is(err, storage.ErrMismatch) {
		t.Fatalf("wrong code: %v", err)
	}
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar1", "good", 5, at.Add(6*time.Minute)); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	must(t, s.VerifyOTPChallenge(ctx, c.ID, "ar1", "good", 5, at))
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar1", "good", 5, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("reused: %v", err)
	}
	// Guesses are capped, also in parallel.
	c2 := c
	c2.ID = random.ID()
	must(t, s.CreateOTPChallenge(ctx, c2, storage.AuditEvent{}))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.VerifyOTPChallenge(ctx, c2.ID, "ar1", "bad", 5, at) }()
	}
	wg.Wait()
	if err := s.VerifyOTPChallenge(ctx, c2.ID, "ar1", "good", 5, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("after 5 wrong guesses the right code must fail: %v", err)
	}
	if n, _ := s.CountOTPChallenges(ctx, u.ID, at.Add(-time.Minute)); n != 2 {
		t.Fatalf("count %d", n)
	}
}

func testLoginOrg(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	org, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "trading", Name: "Trading"}, storage.AuditEvent{})
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: "member"}, storage.AuditEvent{}))
	at := now()
	ar := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", OrgRequest: "trading",
		Scopes: []string{"openid", "org"}, CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, ar))
	must(t, s.SetAuthRequestOrg(ctx, ar.ID, org.ID))
	got, _ := s.AuthRequestByID(ctx, ar.ID)
	if got.OrgRequest != "trading" || got.OrgID != org.ID {
		t.Fatalf("auth request org: %+v", got)
	}
	must(t, s.CompleteAuthRequest(ctx, ar.ID, u.ID, at, []string{"pwd"}, "sess"))
	code := random.Token(32)
	must(t, s.SaveAuthCode(ctx, ar.ID, storage.HashSecret(code), at.Add(time.Minute)))
	if err := s.SetAuthRequestOrg(ctx, ar.ID, "other"); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("org change after the code: %v", err)
	}
	gid := random.ID()
	_, err := s.RedeemCode(ctx, storage.HashSecret(code), storage.CodeBinding{ClientID: "web", RedirectURI: "x"}, gid, at.Add(time.Hour), at, storage.AuditEvent{}, storage.AuditEvent{})
	must(t, err)
	tok := random.Token(32)
	must(t, s.IssueRefreshToken(ctx, storage.RefreshToken{Hash: storage.HashSecret(tok), GrantID: gid, ClientID: "web", UserID: u.ID,
		AuthTime: at, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, at, storage.AuditEvent{}))
	st, err := s.RefreshTokenByHash(ctx, storage.HashSecret(tok))
	must(t, err)
	if st.Grant.OrgID != org.ID || st.Org.Org.Slug != "trading" || st.Org.Role != "member" {
		t.Fatalf("refresh state org: %+v", st.Org)
	}
	// A role change reaches the next refresh; so does the end of membership.
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: "admin"}, storage.AuditEvent{}))
	if st, _ := s.RefreshTokenByHash(ctx, storage.HashSecret(tok)); st.Org.Role != "admin" {
		t.Fatalf("role after change: %q", st.Org.Role)
	}
	at2, err := s.AccessTokenState(ctx, "jti", gid)
	must(t, err)
	if at2.Org.Org.ID != org.ID || at2.Org.Role != "admin" {
		t.Fatalf("access token state org: %+v", at2.Org)
	}
}

func testMembersAndOwners(t *testing.T, s storage.Store) {
	org, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "owners", Name: "Owners"}, storage.AuditEvent{})
	a, b := newUser(t, s), newUser(t, s)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: a.ID, OrgID: org.ID, Role: "owner"}, storage.AuditEvent{}))
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: b.ID, OrgID: org.ID, Role: "member"}, storage.AuditEvent{}))
	if ms, _ := s.MembersOf(ctx, org.ID); len(ms) != 2 || ms[0].UserID != a.ID {
		t.Fatalf("members: %+v", ms)
	}
	if err := s.SetMemberRole(ctx, org.ID, a.ID, "admin", storage.AuditEvent{}); !errors.Is(err, storage.ErrLastOwner) {
		t.Fatalf("demoting the last owner: %v", err)
	}
	if err := s.SetMemberRole(ctx, org.ID, a.ID, "", storage.AuditEvent{}); !errors.Is(err, storage.ErrLastOwner) {
		t.Fatalf("removing the last owner: %v", err)
	}
	must(t, s.SetMemberRole(ctx, org.ID, b.ID, "owner", ev("role_changed")))
	// Two owners demote each other at once: exactly one succeeds.
	errs := make(chan error, 2)
	go func() { errs <- s.SetMemberRole(ctx, org.ID, a.ID, "member", storage.AuditEvent{}) }()
	go func() { errs <- s.SetMemberRole(ctx, org.ID, b.ID, "member", storage.AuditEvent{}) }()
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("concurrent demotions: %v / %v", e1, e2)
	}
	owners := 0
	ms, _ := s.MembersOf(ctx, org.ID)
	for _, m := range ms {
		if m.Role == "owner" {
			owners++
		}
	}
	if owners != 1 {
		t.Fatalf("owners left: %d", owners)
	}
	if err := s.SetMemberRole(ctx, org.ID, "nobody", "member", storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("non-member: %v", err)
	}
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: org.ID, Domain: "b.example"}, storage.AuditEvent{}))
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: org.ID, Domain: "a.example", VerifiedAt: now()}, storage.AuditEvent{}))
	if ds, _ := s.DomainsOf(ctx, org.ID); len(ds) != 2 || ds[0].Domain != "a.example" || ds[0].VerifiedAt.IsZero() || !ds[1].VerifiedAt.IsZero() {
		t.Fatalf("domains: %+v", ds)
	}
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "x", OrgID: org.ID, Time: now().Add(-time.Minute)}))
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "x", OrgID: "other", Time: now()}))
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{OrgID: org.ID}); len(evs) != 1 {
		t.Fatalf("audit by org: %d", len(evs))
	}
	if evs, _ := s.ListAudit(ctx, storage.AuditFilter{Type: "x", Before: now().Add(-30 * time.Second)}); len(evs) != 1 || evs[0].OrgID != org.ID {
		t.Fatalf("audit before: %+v", evs)
	}
}
