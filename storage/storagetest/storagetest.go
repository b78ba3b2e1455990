// Package storagetest is the conformance suite every storage backend must
// pass: one behaviour, whatever the backend. Run(t, newStore) runs it.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// NewStore returns a fresh, empty, migrated store for one test.
type NewStore func(t *testing.T) storage.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"Organizations", testOrganizations},
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"Clients", testClients},
		{"LoginFailureCounter", testLoginFailures},
		{"LoginFailuresConcurrent", testLoginFailuresConcurrent},
		{"LoginAdmissionAtomic", testAdmission},
		{"AuthRequestLifecycle", testAuthRequestLifecycle},
		{"CodeRedeemedOnceConcurrent", testCodeConcurrent},
		{"CodeReplayRevokesGrant", testCodeReplay},
		{"CodeExpiry", testCodeExpiry},
		{"CodeBoundToClientRedirectAndPKCE", testCodeBinding},
		{"APIs", testAPIs},
		{"ClientAPIFields", testClientAPIFields},
		{"Consents", testConsents},
		{"RateLimits", testRateLimits},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshRotationConcurrent", testRefreshConcurrent},
		{"RevocationAndTokenState", testRevocation},
		{"PasswordChangeAndDisableRevoke", testUserRevocation},
		{"Sessions", testSessions},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysInitOnceConcurrent", testSigningKeysConcurrent},
		{"AuditAppendAndFilter", testAudit},
		{"DeleteExpired", testDeleteExpired},
		{"OrgPolicyAndDomains", testOrgPolicyAndDomains},
		{"PhonePendingSessions", testPhonePendingSessions},
		{"ActionTokens", testActionTokens},
		{"TOTP", testTOTP},
		{"BackupCodes", testBackupCodes},
		{"OTPChallenges", testOTPChallenges},
		{"Federation", testFederation},
		{"EmailLinksEndAtRecovery", testEmailLinksEndAtRecovery},
		{"LoginOrganization", testLoginOrg},
		{"MembersAndOwners", testMembersAndOwners},
		{"Entitlements", testEntitlements},
		{"Privacy", testPrivacy},
		{"Invitations", testInvitations},
		{"InvitationInviterRights", testInvitationInviterRights},
		{"SignUpAtomic", testSignUpAtomic},
		{"OrgDeletionPlatformAdmin", testOrgDeletion},
		{"OrgClients", testOrgClients},
		{"Dashboards", testDashboards},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// now is a fixed instant, rounded to microseconds as PostgreSQL stores it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func ev(typ string) storage.AuditEvent {
	return storage.AuditEvent{Type: typ, Time: now(), RequestID: random.ID()}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func auditCount(t *testing.T, s storage.Store, typ string) int {
	t.Helper()
	evs, err := s.ListAudit(ctx, storage.AuditFilter{Type: typ})
	must(t, err)
	return len(evs)
}

func newUser(t *testing.T, s storage.Store) storage.User {
	t.Helper()
	u, err := s.CreateUser(ctx, storage.User{Email: random.ID() + "@Example.COM", Name: "Test", PasswordHash: "h"}, storage.AuditEvent{})
	must(t, err)
	return u
}

func testOrganizations(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "acme", Name: "Acme"}, ev("org_created"))
	must(t, err)
	if o.ID == "" || o.CreatedAt.IsZero() {
		t.Fatalf("org not stamped: %+v", o)
	}
	o2, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "acme", Name: "Acme Corp"}, storage.AuditEvent{})
	must(t, err)
	if o2.ID != o.ID || o2.Name != "Acme Corp" {
		t.Fatalf("upsert by slug: got %+v, want id %s", o2, o.ID)
	}
	got, err := s.OrganizationBySlug(ctx, "acme")
	must(t, err)
	if got.Name != "Acme Corp" {
		t.Fatalf("by slug: %+v", got)
	}
	if _, err := s.OrganizationByID(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OrganizationByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if n := auditCount(t, s, "org_created"); n != 1 {
		t.Fatalf("audit rows = %d, want 1", n)
	}
	must(t, s.SetOrgSettings(ctx, o.ID, []byte(`{"timezone": "Europe/Oslo", "limits": {"desks": 3}}`), ev("org_settings_changed")))
	got, err = s.OrganizationBySlug(ctx, "acme")
	must(t, err)
	jsonEq(t, got.Settings, `{"timezone": "Europe/Oslo", "limits": {"desks": 3}}`)
	if err := s.SetOrgSettings(ctx, "nope", []byte(`{}`), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("settings of an unknown org: %v", err)
	}
}

func testUsers(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	if u.Email != u.Email || u.ID == "" {
		t.Fatal("user not stamped")
	}
	byEmail, err := s.UserByEmail(ctx, u.Email)
	must(t, err)
	if byEmail.ID != u.ID {
		t.Fatal("lookup by email")
	}
	if _, err := s.CreateUser(ctx, storage.User{Email: u.Email}, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate email: want ErrConflict, got %v", err)
	}
	upper, err := s.UserByEmail(ctx, "X"+u.Email[1:])
	if u.Email[0] == 'x' && err != nil || u.Email[0] != 'x' && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("email lookup not by lower-case: %v %+v", err, upper)
	}
	must(t, s.UpdateProfile(ctx, u.ID, "New Name", true, ev("profile_updated")))
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.Name != "New Name" || !got.EmailVerified {
		t.Fatalf("profile not updated: %+v", got)
	}
	if err := s.UpdateProfile(ctx, "nope", "x", false, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if _, err := s.UserByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

func testMemberships(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	a, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "a", Name: "A"}, storage.AuditEvent{})
	must(t, err)
	b, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "b", Name: "B"}, storage.AuditEvent{})
	must(t, err)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: a.ID, Role: "member"}, ev("member_added")))
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: b.ID, Role: "viewer"}, storage.AuditEvent{}))
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: a.ID, Role: "admin"}, storage.AuditEvent{}))
	ms, err := s.MembershipsByUser(ctx, u.ID)
	must(t, err)
	if len(ms) != 2 || ms[0].OrgID != a.ID || ms[0].Role != "admin" || ms[1].Role != "viewer" {
		t.Fatalf("memberships: %+v", ms)
	}
	if err := s.UpsertMembership(ctx, storage.Membership{UserID: "nope", OrgID: a.ID, Role: "member"}, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown user: want ErrNotFound, got %v", err)
	}
}

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

func testLoginFailures(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	p := storage.DefaultLockoutPolicy()
	at := now()
	var got storage.User
	var err error
	for i := 1; i <= 5; i++ {
		got, err = s.LoginFailed(ctx, u.ID, p, at, ev("login_failed"))
		must(t, err)
		if got.FailedLogins != i {
			t.Fatalf("counter = %d, want %d", got.FailedLogins, i)
		}
		if locked := got.Locked(at); locked != (i >= 5) {
			t.Fatalf("after %d failures locked=%v", i, locked)
		}
	}
	sess := storage.Session{IDHash: storage.HashSecret("sid"), UserID: u.ID, AuthTime: at, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.LoginSucceeded(ctx, u.ID, &storage.Ticket{Count: 5, LockAfter: p.LockAfter}, at, "newhash", sess, ev("login_succeeded")))
	got, err = s.UserByID(ctx, u.ID)
	must(t, err)
	if got.FailedLogins != 0 || !got.LockedUntil.IsZero() || got.PasswordHash != "newhash" {
		t.Fatalf("success did not reset/rehash: %+v", got)
	}
	must(t, s.LoginSucceeded(ctx, u.ID, nil, now(), "", storage.Session{}, storage.AuditEvent{}))
	got, _ = s.UserByID(ctx, u.ID)
	if got.PasswordHash != "newhash" {
		t.Fatal("empty newHash must keep the hash")
	}
	if _, err := s.SessionByHash(ctx, sess.IDHash); err != nil {
		t.Fatalf("session not stored: %v", err)
	}
	if n := auditCount(t, s, "login_failed"); n != 5 {
		t.Fatalf("audit login_failed = %d", n)
	}
}

// testAdmission: a check is admitted only while the account is open and
// counted before it runs; the lock row commits with the lock; a burst
// evaluates at most the hard cap; a right password admitted before
// parallel failures cannot erase them or get in past a lock they caused.
func testAdmission(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	p := storage.LockoutPolicy{LockAfter: 20, LockFor: time.Hour, MaxFailures: 30}
	at := now()
	ticket, err := s.AdmitLogin(ctx, u.ID, p, at, ev("account_locked"))
	must(t, err)
	if ticket.Count != 1 {
		t.Fatalf("first ticket %+v", ticket)
	}
	// 49 parallel admissions after the right one: 19 get in before the
	// lock at 20, the rest are refused; the lock's audit row is there.
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, refused := 0, 0
	for range 49 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AdmitLogin(ctx, u.ID, p, at, ev("account_locked"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case errors.Is(err, storage.ErrLocked):
				refused++
			default:
				t.Errorf("admit: %v", err)
			}
		}()
	}
	wg.Wait()
	if admitted != 19 || refused != 30 {
		t.Fatalf("admitted %d refused %d, want 19 and 30", admitted, refused)
	}
	if n := auditCount(t, s, "account_locked"); n != 1 {
		t.Fatalf("account_locked rows = %d", n)
	}
	// The right password, admitted first, cannot get in past the lock the
	// later failures caused, nor erase them.
	sess := storage.Session{IDHash: storage.HashSecret("late"), UserID: u.ID, AuthTime: at, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour)}
	if err := s.LoginSucceeded(ctx, u.ID, &ticket, at, "", sess, ev("login_succeeded")); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("the right password after the lock committed: %v", err)
	}
	if _, err := s.SessionByHash(ctx, sess.IDHash); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("a refused success stored its session")
	}
	got, _ := s.UserByID(ctx, u.ID)
	if got.FailedLogins != 20 || !got.Locked(at) {
		t.Fatalf("the failures were erased: %+v", got)
	}
	// Before any lock, a success takes back only what came before it.
	w := newUser(t, s)
	first, err := s.AdmitLogin(ctx, w.ID, p, at, storage.AuditEvent{})
	must(t, err)
	for range 3 {
		_, err := s.AdmitLogin(ctx, w.ID, p, at, storage.AuditEvent{})
		must(t, err)
	}
	must(t, s.LoginSucceeded(ctx, w.ID, &first, at, "", storage.Session{}, storage.AuditEvent{}))
	if got, _ := s.UserByID(ctx, w.ID); got.FailedLogins != 3 {
		t.Fatalf("a success erased later failures: %d, want 3", got.FailedLogins)
	}
	// A right password before its second factor takes back only itself.
	must(t, s.ReleaseAdmission(ctx, w.ID))
	if got, _ := s.UserByID(ctx, w.ID); got.FailedLogins != 2 {
		t.Fatalf("release: %d, want 2", got.FailedLogins)
	}
	// A burst against the hard cap evaluates at most the cap.
	v := newUser(t, s)
	hardCap := storage.LockoutPolicy{MaxFailures: 100}
	admitted = 0
	for range 150 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AdmitLogin(ctx, v.ID, hardCap, at, storage.AuditEvent{}); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 100 {
		t.Fatalf("a burst of 150 was admitted %d times against a cap of 100", admitted)
	}
}

func testLoginFailuresConcurrent(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	p := storage.DefaultLockoutPolicy()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.LoginFailed(ctx, u.ID, p, now(), ev("login_failed"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.UserByID(ctx, u.ID)
	must(t, err)
	if got.FailedLogins != 50 {
		t.Fatalf("counter = %d after 50 parallel failures, want exactly 50", got.FailedLogins)
	}
	if !got.Locked(now()) {
		t.Fatal("account not locked after 50 failures")
	}
	if n := auditCount(t, s, "login_failed"); n != 50 {
		t.Fatalf("audit rows = %d, want 50", n)
	}
}

// completedRequest makes an auth request that has a code.
// webBinding is what the requests of completedRequest bind their codes to.
var webBinding = storage.CodeBinding{ClientID: "web", RedirectURI: "https://rp/cb", CodeChallenge: "cc"}

func completedRequest(t *testing.T, s storage.Store, u storage.User, codeTTL time.Duration) (storage.AuthRequest, string) {
	t.Helper()
	at := now()
	maxAge := int64(60)
	ar := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "https://rp/cb", State: "st", Nonce: "n",
		Scopes: []string{"openid", "offline_access"}, ResponseType: "code", CodeChallenge: "cc", CodeChallengeMethod: "S256",
		Prompt: []string{"login"}, MaxAge: &maxAge, BrowserHash: "bh", CreatedAt: at, ExpiresAt: at.Add(30 * time.Minute),
		Resources: []string{"https://api.example/trading"}}
	must(t, s.CreateAuthRequest(ctx, ar))
	must(t, s.CompleteAuthRequest(ctx, ar.ID, u.ID, at, []string{"pwd"}, "sess"))
	code := random.Token(32)
	must(t, s.SaveAuthCode(ctx, ar.ID, storage.HashSecret(code), at.Add(codeTTL)))
	return ar, code
}

func testAuthRequestLifecycle(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	at := now()
	ar := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "https://rp/cb", Scopes: []string{"openid"},
		ResponseType: "code", BrowserHash: "bh", CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, ar))
	if err := s.CreateAuthRequest(ctx, ar); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate id: want ErrConflict, got %v", err)
	}
	got, err := s.AuthRequestByID(ctx, ar.ID)
	must(t, err)
	if got.Done || got.MaxAge != nil || got.BrowserHash != "bh" {
		t.Fatalf("round trip: %+v", got)
	}
	if err := s.SaveAuthCode(ctx, ar.ID, "h", at.Add(time.Minute)); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("code before completion: want ErrAlreadyUsed, got %v", err)
	}
	must(t, s.CompleteAuthRequest(ctx, ar.ID, u.ID, at, []string{"pwd"}, "sess"))
	got, _ = s.AuthRequestByID(ctx, ar.ID)
	if !got.Done || got.UserID != u.ID || got.AMR[0] != "pwd" || !got.AuthTime.Equal(at) {
		t.Fatalf("completion: %+v", got)
	}
	must(t, s.SaveAuthCode(ctx, ar.ID, "h1", at.Add(time.Minute)))
	if err := s.SaveAuthCode(ctx, ar.ID, "h2", at.Add(time.Minute)); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("second code: want ErrAlreadyUsed, got %v", err)
	}
	if err := s.CompleteAuthRequest(ctx, ar.ID, "other", at, nil, ""); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("re-complete after code: want ErrAlreadyUsed, got %v", err)
	}
	expired := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "x", ResponseType: "code", BrowserHash: "b",
		CreatedAt: at.Add(-time.Hour), ExpiresAt: at.Add(-time.Minute)}
	must(t, s.CreateAuthRequest(ctx, expired))
	if _, err := s.AuthRequestByID(ctx, expired.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired request: want ErrNotFound, got %v", err)
	}
	if err := s.CompleteAuthRequest(ctx, expired.ID, u.ID, at, nil, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("complete expired: want ErrNotFound, got %v", err)
	}
}

// race runs attempt 50 times in parallel and checks that exactly one
// succeeds and the other 49 report ErrAlreadyUsed; it returns the index of
// the winner.
func race(t *testing.T, attempt func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	winner, wins, reused := -1, 0, 0
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := attempt(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				winner = i
			case errors.Is(err, storage.ErrAlreadyUsed):
				reused++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || reused != 49 {
		t.Fatalf("wins=%d reused=%d, want exactly 1 and 49", wins, reused)
	}
	return winner
}

func testCodeConcurrent(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	_, code := completedRequest(t, s, u, time.Minute)
	gids := make([]string, 50)
	for i := range gids {
		gids[i] = fmt.Sprintf("g%d-%s", i, random.ID())
	}
	winner := race(t, func(i int) error {
		_, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, gids[i], now().Add(time.Hour), now(), ev("code_redeemed"), ev("code_replayed"))
		return err
	})
	g, err := s.GrantByID(ctx, gids[winner])
	must(t, err)
	if g.RevokedAt.IsZero() {
		t.Fatal("concurrent replays must revoke the grant of the winning redemption")
	}
}

func testCodeReplay(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	ar, code := completedRequest(t, s, u, time.Minute)
	gid := random.ID()
	at := now()
	got, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, gid, at.Add(time.Hour), at, ev("code_redeemed"), ev("code_replayed"))
	must(t, err)
	if got.ID != ar.ID || got.UserID != u.ID || got.GrantID != gid || got.CodeChallenge != "cc" || *got.MaxAge != 60 {
		t.Fatalf("redeemed request: %+v", got)
	}
	g, err := s.GrantByID(ctx, gid)
	must(t, err)
	if g.UserID != u.ID || g.ClientID != "web" || !g.Active(at) || len(g.Scopes) != 2 || g.AMR[0] != "pwd" ||
		!slices.Equal(g.Resources, []string{"https://api.example/trading"}) {
		t.Fatalf("grant from redemption: %+v", g)
	}
	rt := storage.RefreshToken{Hash: storage.HashSecret("rt"), GrantID: gid, ClientID: "web", UserID: u.ID,
		Scopes: g.Scopes, AuthTime: at, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.IssueRefreshToken(ctx, rt, at, ev("tokens_issued")))
	if _, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, random.ID(), at.Add(time.Hour), at, ev("code_redeemed"), ev("code_replayed")); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("replay: want ErrAlreadyUsed, got %v", err)
	}
	g, _ = s.GrantByID(ctx, gid)
	if g.RevokedAt.IsZero() {
		t.Fatal("replay must revoke the first redemption's grant")
	}
	if n := auditCount(t, s, "code_replayed"); n != 1 {
		t.Fatalf("code_replayed audit = %d", n)
	}
	if n := auditCount(t, s, "code_redeemed"); n != 1 {
		t.Fatalf("code_redeemed audit = %d", n)
	}
	// A token issued to the revoked grant is stored dead: it cannot rotate.
	must(t, s.IssueRefreshToken(ctx, storage.RefreshToken{Hash: "x", GrantID: gid, ExpiresAt: at.Add(time.Hour), CreatedAt: at, AuthTime: at}, at, storage.AuditEvent{}))
	if err := s.RotateRefreshToken(ctx, "x", storage.RefreshToken{Hash: "y", ExpiresAt: at.Add(time.Hour), CreatedAt: at, AuthTime: at}, at, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrRevoked) {
		t.Fatalf("rotating a token of a revoked grant: want ErrRevoked, got %v", err)
	}
	if err := s.IssueRefreshToken(ctx, storage.RefreshToken{Hash: "z", GrantID: "nope", ExpiresAt: at.Add(time.Hour), CreatedAt: at, AuthTime: at}, at, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refresh token for unknown grant: want ErrNotFound, got %v", err)
	}
	if _, err := s.RedeemCode(ctx, storage.HashSecret("unknown"), webBinding, random.ID(), at, at, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown code: want ErrNotFound, got %v", err)
	}
}

// testCodeBinding: a redemption that does not match the code's client,
// redirect URI or PKCE challenge fails with ErrMismatch and leaves the code
// usable, so a forged token request cannot burn it.
func testCodeBinding(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	_, code := completedRequest(t, s, u, time.Minute)
	at := now()
	for name, b := range map[string]storage.CodeBinding{
		"other client":       {ClientID: "evil", RedirectURI: webBinding.RedirectURI, CodeChallenge: webBinding.CodeChallenge},
		"other redirect URI": {ClientID: "web", RedirectURI: "https://rp/cb2", CodeChallenge: webBinding.CodeChallenge},
		"wrong verifier":     {ClientID: "web", RedirectURI: webBinding.RedirectURI, CodeChallenge: "other"},
		"no verifier":        {ClientID: "web", RedirectURI: webBinding.RedirectURI},
	} {
		if _, err := s.RedeemCode(ctx, storage.HashSecret(code), b, random.ID(), at.Add(time.Hour), at, ev("code_redeemed"), ev("code_replayed")); !errors.Is(err, storage.ErrMismatch) {
			t.Fatalf("%s: want ErrMismatch, got %v", name, err)
		}
	}
	if _, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, random.ID(), at.Add(time.Hour), at, ev("code_redeemed"), ev("code_replayed")); err != nil {
		t.Fatalf("the real client after forged attempts: %v", err)
	}
	// After redemption, a forged replay does not revoke the grant either.
	if _, err := s.RedeemCode(ctx, storage.HashSecret(code), storage.CodeBinding{ClientID: "evil"}, random.ID(), at.Add(time.Hour), at, ev("code_redeemed"), ev("code_replayed")); !errors.Is(err, storage.ErrMismatch) {
		t.Fatalf("forged replay: want ErrMismatch, got %v", err)
	}
}

func testCodeExpiry(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	_, code := completedRequest(t, s, u, time.Second)
	later := now().Add(2 * time.Second)
	if _, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, random.ID(), later.Add(time.Hour), later, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired code: want ErrExpired, got %v", err)
	}
}

// grantWithToken redeems a code and issues a first refresh token.
func grantWithToken(t *testing.T, s storage.Store) (storage.Grant, string) {
	t.Helper()
	u := newUser(t, s)
	_, code := completedRequest(t, s, u, time.Minute)
	at := now()
	gid := random.ID()
	_, err := s.RedeemCode(ctx, storage.HashSecret(code), webBinding, gid, at.Add(time.Hour), at, storage.AuditEvent{}, storage.AuditEvent{})
	must(t, err)
	tok := random.Token(32)
	must(t, s.IssueRefreshToken(ctx, storage.RefreshToken{Hash: storage.HashSecret(tok), GrantID: gid, ClientID: "web",
		UserID: u.ID, Scopes: []string{"openid", "offline_access"}, AuthTime: at, AMR: []string{"pwd"}, CreatedAt: at,
		ExpiresAt: at.Add(time.Hour)}, at, ev("tokens_issued")))
	g, err := s.GrantByID(ctx, gid)
	must(t, err)
	return g, tok
}

func nextToken(g storage.Grant) (storage.RefreshToken, string) {
	tok := random.Token(32)
	at := now()
	return storage.RefreshToken{Hash: storage.HashSecret(tok), GrantID: g.ID, ClientID: g.ClientID, UserID: g.UserID,
		Scopes: []string{"openid"}, AuthTime: g.AuthTime, AMR: g.AMR, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, tok
}

func testRefreshRotation(t *testing.T, s storage.Store) {
	g, tok := grantWithToken(t, s)
	st, err := s.RefreshTokenByHash(ctx, storage.HashSecret(tok))
	must(t, err)
	if rt := st.Token; rt.GrantID != g.ID || st.Grant.ID != g.ID || !rt.UsedAt.IsZero() || rt.AMR[0] != "pwd" || st.User.ID != g.UserID {
		t.Fatalf("lookup: %+v", st)
	}
	next, nextTok := nextToken(g)
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(tok), next, now(), ev("token_refreshed"), ev("refresh_reuse")))
	st, err = s.RefreshTokenByHash(ctx, storage.HashSecret(nextTok))
	must(t, err)
	if rt := st.Token; rt.GrantID != g.ID || rt.Scopes[0] != "openid" || len(rt.Scopes) != 1 {
		t.Fatalf("successor: %+v", st.Token)
	}
	old, _ := s.RefreshTokenByHash(ctx, storage.HashSecret(tok))
	if old.Token.UsedAt.IsZero() {
		t.Fatal("rotated token not marked used")
	}
	// Reuse of the rotated token: family revoked, successor dead too.
	again, _ := nextToken(g)
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(tok), again, now(), ev("token_refreshed"), ev("refresh_reuse")); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("reuse: want ErrAlreadyUsed, got %v", err)
	}
	third, _ := nextToken(g)
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(nextTok), third, now(), ev("token_refreshed"), ev("refresh_reuse")); !errors.Is(err, storage.ErrRevoked) {
		t.Fatalf("successor after reuse: want ErrRevoked, got %v", err)
	}
	if n := auditCount(t, s, "refresh_reuse"); n != 1 {
		t.Fatalf("refresh_reuse audit = %d", n)
	}
	if n := auditCount(t, s, "token_refreshed"); n != 1 {
		t.Fatalf("token_refreshed audit = %d", n)
	}
	if _, err := s.RefreshTokenByHash(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown token: want ErrNotFound, got %v", err)
	}
}

func testRefreshConcurrent(t *testing.T, s storage.Store) {
	g, tok := grantWithToken(t, s)
	// The documented rule: no grace period. Exactly one rotation wins; every
	// other presentation of the same token is reuse and revokes the family.
	race(t, func(int) error {
		next, _ := nextToken(g)
		return s.RotateRefreshToken(ctx, storage.HashSecret(tok), next, now(), ev("token_refreshed"), ev("refresh_reuse"))
	})
	got, err := s.GrantByID(ctx, g.ID)
	must(t, err)
	if got.RevokedAt.IsZero() {
		t.Fatal("family must be revoked after concurrent reuse")
	}
}

func testRevocation(t *testing.T, s storage.Store) {
	g, _ := grantWithToken(t, s)
	st, err := s.AccessTokenState(ctx, "jti-1", g.ID)
	must(t, err)
	if st.Revoked || st.Grant.ID != g.ID || st.User.ID != g.UserID || !st.Grant.Active(now()) {
		t.Fatalf("state: %+v", st)
	}
	must(t, s.RevokeAccessToken(ctx, "jti-1", now().Add(time.Hour), ev("token_revoked")))
	must(t, s.RevokeAccessToken(ctx, "jti-1", now().Add(time.Hour), storage.AuditEvent{}))
	st, err = s.AccessTokenState(ctx, "jti-1", g.ID)
	must(t, err)
	if !st.Revoked {
		t.Fatal("revoked jti not reported")
	}
	cc, err := s.AccessTokenState(ctx, "cc-jti", "")
	must(t, err)
	if cc.Revoked || cc.Grant.ID != "" {
		t.Fatalf("client credentials token state: %+v", cc)
	}
	must(t, s.RevokeGrant(ctx, g.ID, now(), ev("grant_revoked")))
	must(t, s.RevokeGrant(ctx, g.ID, now(), storage.AuditEvent{}))
	st, _ = s.AccessTokenState(ctx, "jti-2", g.ID)
	if st.Grant.Active(now()) {
		t.Fatal("revoked grant reported active")
	}
	if err := s.RevokeGrant(ctx, "nope", now(), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown grant: want ErrNotFound, got %v", err)
	}
	if _, err := s.AccessTokenState(ctx, "x", "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown grant: want ErrNotFound, got %v", err)
	}
}

func testUserRevocation(t *testing.T, s storage.Store) {
	for _, action := range []string{"password", "disable"} {
		t.Run(action, func(t *testing.T) {
			g, _ := grantWithToken(t, s)
			at := now()
			sess := storage.Session{IDHash: storage.HashSecret(random.ID()), UserID: g.UserID, AuthTime: at, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour)}
			must(t, s.LoginSucceeded(ctx, g.UserID, nil, now(), "", sess, storage.AuditEvent{}))
			if _, err := s.LoginFailed(ctx, g.UserID, storage.DefaultLockoutPolicy(), at, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			switch action {
			case "password":
				must(t, s.SetPassword(ctx, g.UserID, "h2", at, ev("password_changed")))
				u, _ := s.UserByID(ctx, g.UserID)
				if u.PasswordHash != "h2" || u.FailedLogins != 0 {
					t.Fatalf("password not set: %+v", u)
				}
			case "disable":
				must(t, s.SetDisabled(ctx, g.UserID, true, at, ev("user_disabled")))
				u, _ := s.UserByID(ctx, g.UserID)
				if !u.Disabled {
					t.Fatal("not disabled")
				}
			}
			got, _ := s.GrantByID(ctx, g.ID)
			if got.RevokedAt.IsZero() {
				t.Fatal("grants must be revoked")
			}
			ss, _ := s.SessionByHash(ctx, sess.IDHash)
			if ss.RevokedAt.IsZero() {
				t.Fatal("sessions must be revoked")
			}
		})
	}
	if err := s.SetDisabled(ctx, "nope", true, now(), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

func testSessions(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	at := now()
	sess := storage.Session{IDHash: storage.HashSecret("s1"), UserID: u.ID, AuthTime: at, AMR: []string{"pwd"},
		CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(time.Hour), IP: "127.0.0.1", UserAgent: "test"}
	must(t, s.LoginSucceeded(ctx, u.ID, nil, now(), "", sess, ev("login_succeeded")))
	got, err := s.SessionByHash(ctx, sess.IDHash)
	must(t, err)
	if got.UserID != u.ID || !got.AuthTime.Equal(at) || got.AMR[0] != "pwd" || got.IP != "127.0.0.1" || !got.RevokedAt.IsZero() {
		t.Fatalf("session: %+v", got)
	}
	later := at.Add(time.Minute)
	must(t, s.TouchSession(ctx, sess.IDHash, later))
	got, _ = s.SessionByHash(ctx, sess.IDHash)
	if !got.LastSeenAt.Equal(later) {
		t.Fatalf("touch: %v", got.LastSeenAt)
	}
	must(t, s.RevokeSession(ctx, sess.IDHash, later, ev("logout")))
	got, _ = s.SessionByHash(ctx, sess.IDHash)
	if got.RevokedAt.IsZero() {
		t.Fatal("not revoked")
	}
	if _, err := s.SessionByHash(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if err := s.TouchSession(ctx, "nope", later); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

func key(alg string, state storage.SigningKeyState) storage.SigningKey {
	return storage.SigningKey{ID: random.ID(), Algorithm: alg, State: state, PrivateKeySealed: []byte("sealed-" + alg), CreatedAt: now()}
}

func testSigningKeys(t *testing.T, s storage.Store) {
	cur, next := key("RS256", storage.KeyCurrent), key("RS256", storage.KeyNext)
	ok, err := s.InitSigningKeys(ctx, cur, next, ev("keys_created"))
	must(t, err)
	if !ok {
		t.Fatal("first init must store")
	}
	ok, err = s.InitSigningKeys(ctx, key("RS256", storage.KeyCurrent), key("RS256", storage.KeyNext), ev("keys_created"))
	must(t, err)
	if ok {
		t.Fatal("second init must not store")
	}
	newNext := key("RS256", storage.KeyNext)
	at := now()
	must(t, s.RotateSigningKeys(ctx, "RS256", newNext, at, at.Add(time.Hour), ev("keys_rotated")))
	keys, err := s.SigningKeys(ctx)
	must(t, err)
	states := map[string]storage.SigningKeyState{}
	for _, k := range keys {
		states[k.ID] = k.State
		if k.ID == cur.ID && !k.ExpiresAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("retired key expiry: %v", k.ExpiresAt)
		}
		if string(k.PrivateKeySealed) != "sealed-RS256" {
			t.Fatal("sealed key not round-tripped")
		}
	}
	if states[cur.ID] != storage.KeyRetired || states[next.ID] != storage.KeyCurrent || states[newNext.ID] != storage.KeyNext {
		t.Fatalf("states after rotation: %v", states)
	}
	// Rotate once more with the retired key already expired: it drops out.
	must(t, s.RotateSigningKeys(ctx, "RS256", key("RS256", storage.KeyNext), at, at.Add(-time.Second), storage.AuditEvent{}))
	keys, _ = s.SigningKeys(ctx)
	for _, k := range keys {
		if k.ID == next.ID {
			t.Fatal("expired retired key still listed")
		}
	}
	if err := s.RotateSigningKeys(ctx, "ES256", key("ES256", storage.KeyNext), at, at, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("rotate without keys: want ErrNotFound, got %v", err)
	}
	if n := auditCount(t, s, "keys_rotated"); n != 1 {
		t.Fatalf("keys_rotated audit = %d", n)
	}
}

func testSigningKeysConcurrent(t *testing.T, s storage.Store) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.InitSigningKeys(ctx, key("ES256", storage.KeyCurrent), key("ES256", storage.KeyNext), storage.AuditEvent{})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				stored++
			}
		}()
	}
	wg.Wait()
	keys, _ := s.SigningKeys(ctx)
	if stored != 1 || len(keys) != 2 {
		t.Fatalf("stored=%d keys=%d, want 1 and 2", stored, len(keys))
	}
}

func testAudit(t *testing.T, s storage.Store) {
	base := now().Add(-time.Hour)
	for i, typ := range []string{"a", "b", "a"} {
		e := storage.AuditEvent{Type: typ, Time: base.Add(time.Duration(i) * time.Minute), ActorID: "u1", SubjectID: "u2",
			OrgID: "o", ClientID: "c", IP: "127.0.0.1", UserAgent: "ua", RequestID: "r", Details: map[string]string{"k": "v"}}
		must(t, s.AppendAudit(ctx, e))
	}
	must(t, s.AppendAudit(ctx, storage.AuditEvent{})) // no type: not written
	all, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, err)
	if len(all) != 3 || all[0].Type != "a" || !all[0].Time.Equal(base.Add(2*time.Minute)) || all[0].Details["k"] != "v" || all[0].ID == "" {
		t.Fatalf("list newest first: %+v", all)
	}
	as, _ := s.ListAudit(ctx, storage.AuditFilter{Type: "a"})
	since, _ := s.ListAudit(ctx, storage.AuditFilter{Since: base.Add(30 * time.Second)})
	limited, _ := s.ListAudit(ctx, storage.AuditFilter{Limit: 1})
	actor, _ := s.ListAudit(ctx, storage.AuditFilter{ActorID: "nobody"})
	if len(as) != 2 || len(since) != 2 || len(limited) != 1 || len(actor) != 0 {
		t.Fatalf("filters: %d %d %d %d", len(as), len(since), len(limited), len(actor))
	}
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "c", ActorID: "u2"}))
	asActor, _ := s.ListAudit(ctx, storage.AuditFilter{UserID: "u2"})
	asNobody, _ := s.ListAudit(ctx, storage.AuditFilter{UserID: "u3"})
	if len(asActor) != 4 || len(asNobody) != 0 {
		t.Fatalf("user filter (actor or subject): %d, %d", len(asActor), len(asNobody))
	}
}

func testDeleteExpired(t *testing.T, s storage.Store) {
	g, tok := grantWithToken(t, s)
	must(t, s.RevokeAccessToken(ctx, "old", now().Add(-time.Minute), storage.AuditEvent{}))
	must(t, s.RevokeAccessToken(ctx, "live", now().Add(time.Hour), storage.AuditEvent{}))
	before := auditCount(t, s, "")
	n, err := s.DeleteExpired(ctx, now().Add(2*time.Hour))
	must(t, err)
	if n < 4 {
		t.Fatalf("deleted %d rows, want at least request, grant, token, jtis", n)
	}
	if _, err := s.RefreshTokenByHash(ctx, storage.HashSecret(tok)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired refresh token still there: %v", err)
	}
	if _, err := s.GrantByID(ctx, g.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired grant still there: %v", err)
	}
	if after := auditCount(t, s, ""); after != before {
		t.Fatalf("audit rows deleted: %d → %d", before, after)
	}
}
