package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// lostExchange is a code exchange whose replica died after the redemption
// committed and before the answer went out: redeemed under the code's
// claim, the claim gone with the replica, nothing delivered (or, unless
// claimed, one redeemed without a claim). It returns the grant that
// exchange created.
func lostExchange(t *testing.T, e *apptest.Env, code, verifier string, claimed bool) string {
	t.Helper()
	if !claimed {
		now := e.Clock.Now().UTC()
		grant := random.ID()
		if _, err := e.App.Store.RedeemCode(context.Background(), storage.HashSecret(code), binding(verifier), grant, now.Add(time.Hour), now,
			storage.AuditEvent{}, storage.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
		return grant
	}
	grant, release := exchangeInFlight(t, e, code, verifier)
	release()
	return grant
}

// exchangeInFlight is a code exchange between its redemption and its
// answer: the code redeemed under its claim, which release ends.
func exchangeInFlight(t *testing.T, e *apptest.Env, code, verifier string) (grant string, release func()) {
	t.Helper()
	ctx := context.Background()
	hash := storage.HashSecret(code)
	release, ok, err := e.App.Store.ClaimCode(ctx, hash)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	now := e.Clock.Now().UTC()
	grant = random.ID()
	if _, err := e.App.Store.RedeemClaimedCode(ctx, hash, binding(verifier), grant, now.Add(time.Hour), now, 5*time.Second,
		storage.AuditEvent{}, storage.AuditEvent{}); err != nil {
		release()
		t.Fatal(err)
	}
	return grant, release
}

// binding is what codes of the test client "web" are bound to.
func binding(verifier string) storage.CodeBinding {
	return storage.CodeBinding{ClientID: "web", RedirectURI: apptest.RPCallback, CodeChallenge: challengeOf(verifier)}
}

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// grantRevoked reports whether the grant's tokens are dead.
func grantRevoked(t *testing.T, e *apptest.Env, grant string) bool {
	t.Helper()
	st, err := e.App.Store.AccessTokenState(context.Background(), "", grant)
	if err != nil {
		t.Fatal(err)
	}
	return !st.Grant.RevokedAt.IsZero()
}

// A code exchange whose answer was lost (its replica died after the
// redemption) is retried by the client within tokens.code_grace: the
// retry gets working tokens, the lost ones die, and once that answer is
// out the code is spent as before (CHECKS 25): a replay is refused and
// revokes what the retry gave.
func TestCodeRetryAfterALostAnswer(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			code, verifier := e.CodeFor(e.Browser(), nil)
			lost := lostExchange(t, e, code, verifier, true)
			e.Clock.Offset += 2 * time.Second
			resp, body := e.Exchange(code, verifier)
			if resp.StatusCode != 200 {
				t.Fatalf("retry within the grace: %d %s", resp.StatusCode, body)
			}
			tok := apptest.DecodeToken(t, body)
			if e.Userinfo(tok.AccessToken).StatusCode != 200 {
				t.Fatal("the retry's access token does not work")
			}
			if !grantRevoked(t, e, lost) {
				t.Fatal("the lost exchange's grant still lives")
			}
			rows, err := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{Type: "code_redeemed"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 || rows[len(rows)-1].Details["replaces_grant"] != lost {
				t.Fatalf("no audit row names the replaced grant: %+v", rows)
			}

			resp, body = e.Exchange(code, verifier)
			if resp.StatusCode != 400 || !strings.Contains(body, `"invalid_grant"`) {
				t.Fatalf("replay after the retry's answer went out: %d %s", resp.StatusCode, body)
			}
			if e.Userinfo(tok.AccessToken).StatusCode != 401 {
				t.Fatal("the replay did not revoke the retry's tokens")
			}
		})
	}
}

// Everything else about a second presentation stays a replay or a
// mismatch: a redemption not made under the claim (its exchange may still
// be answering), one past the grace, one still in flight (its claim held;
// and that replay rules out a later retry), another verifier, another
// client.
func TestCodeRetryRefused(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			replayed := func(t *testing.T, code, verifier string) {
				t.Helper()
				resp, body := e.Exchange(code, verifier)
				if resp.StatusCode != 400 || !strings.Contains(body, `"invalid_grant"`) {
					t.Fatalf("want invalid_grant, got %d %s", resp.StatusCode, body)
				}
			}
			t.Run("unclaimed redemption", func(t *testing.T) {
				code, verifier := e.CodeFor(e.Browser(), nil)
				first := lostExchange(t, e, code, verifier, false)
				replayed(t, code, verifier)
				if !grantRevoked(t, e, first) {
					t.Fatal("a replay did not revoke the first grant")
				}
			})
			t.Run("past the grace", func(t *testing.T) {
				code, verifier := e.CodeFor(e.Browser(), nil)
				first := lostExchange(t, e, code, verifier, true)
				e.Clock.Offset += 6 * time.Second
				replayed(t, code, verifier)
				if !grantRevoked(t, e, first) {
					t.Fatal("a replay did not revoke the first grant")
				}
			})
			t.Run("first exchange still in flight", func(t *testing.T) {
				code, verifier := e.CodeFor(e.Browser(), nil)
				first, release := exchangeInFlight(t, e, code, verifier)
				defer release()
				replayed(t, code, verifier)
				if !grantRevoked(t, e, first) {
					t.Fatal("a replay did not revoke the first grant")
				}
				// The first exchange then fails without an answer: the
				// replay seen meanwhile still rules out a retry.
				release()
				replayed(t, code, verifier)
			})
			t.Run("another verifier or client", func(t *testing.T) {
				code, verifier := e.CodeFor(e.Browser(), nil)
				lostExchange(t, e, code, verifier, true)
				other, _ := apptest.PKCE()
				replayed(t, code, other)
				resp, _ := e.PostToken("/oauth/token", map[string][]string{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier}}, "web2", apptest.Web2Secret)
				if resp.StatusCode != 400 {
					t.Fatalf("another client: %d", resp.StatusCode)
				}
				// Neither burned the retry of the client that holds the verifier.
				if resp, body := e.Exchange(code, verifier); resp.StatusCode != 200 {
					t.Fatalf("the rightful retry after forged ones: %d %s", resp.StatusCode, body)
				}
			})
		})
	}
}
