// Package storagetest is the conformance suite every storage backend must
// pass: one behaviour, whatever the backend. Run(t, newStore) runs it.
package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// NewStore returns a fresh, empty, migrated store for one test. Run calls
// it from parallel tests.
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
		{"RefreshGrace", testRefreshGrace},
		{"RevocationAndTokenState", testRevocation},
		{"PasswordChangeAndDisableRevoke", testUserRevocation},
		{"Sessions", testSessions},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysInitOnceConcurrent", testSigningKeysConcurrent},
		{"AuditAppendAndFilter", testAudit},
		{"AuditChain", testAuditChain},
		{"AuditChainHeads", testAuditChainHeads},
		{"AuditChainConcurrent", testAuditChainConcurrent},
		{"AuditChainErasure", testAuditChainErasure},
		{"DeleteExpired", testDeleteExpired},
		{"OrgPolicyAndDomains", testOrgPolicyAndDomains},
		{"PhonePendingSessions", testPhonePendingSessions},
		{"ActionTokens", testActionTokens},
		{"TOTP", testTOTP},
		{"BackupCodes", testBackupCodes},
		{"OTPChallenges", testOTPChallenges},
		{"Passkeys", testPasskeys},
		{"PasskeyChallenges", testPasskeyChallenges},
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
		{"RemoveDomain", testRemoveDomain},
		{"Branding", testBranding},
		{"RevokeConsent", testRevokeConsent},
		{"UnlinkIdentity", testUnlinkIdentity},
		{"ChangeEmail", testChangeEmail},
		{"AuditPagingInOneInstant", testAuditPagingInOneInstant},
		{"InvitationByToken", testInvitationByToken},
	}
	// Each test has a store of its own, so they run in parallel (as many at
	// once as go test's -parallel allows): for PostgreSQL one test's
	// database is being created while another test runs. Whatever a test
	// wrote to the audit log, by whichever path, must leave its hash chains
	// intact.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
			if !t.Failed() {
				mustVerify(t, s)
			}
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

func jsonEq(t *testing.T, got []byte, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	_ = json.Unmarshal([]byte(want), &b)
	ga, _ := json.Marshal(a)
	gb, _ := json.Marshal(b)
	if string(ga) != string(gb) {
		t.Fatalf("JSON %s, want %s", ga, gb)
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
