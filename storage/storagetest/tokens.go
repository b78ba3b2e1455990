package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// webBinding is what the requests of completedRequest bind their codes to.
var webBinding = storage.CodeBinding{ClientID: "web", RedirectURI: "https://rp/cb", CodeChallenge: "cc"}

// completedRequest makes an auth request that has a code.
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
	if err := s.RotateRefreshToken(ctx, "x", storage.RefreshToken{Hash: "y", ExpiresAt: at.Add(time.Hour), CreatedAt: at, AuthTime: at}, at, 0, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrRevoked) {
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
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(tok), next, now(), 0, ev("token_refreshed"), ev("refresh_reuse")))
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
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(tok), again, now(), 0, ev("token_refreshed"), ev("refresh_reuse")); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("reuse: want ErrAlreadyUsed, got %v", err)
	}
	third, _ := nextToken(g)
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(nextTok), third, now(), 0, ev("token_refreshed"), ev("refresh_reuse")); !errors.Is(err, storage.ErrRevoked) {
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
		return s.RotateRefreshToken(ctx, storage.HashSecret(tok), next, now(), 0, ev("token_refreshed"), ev("refresh_reuse"))
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
			must(t, s.LoginSucceeded(ctx, g.UserID, nil, now(), "", sess, storage.AuditEvent{}, ev("account_lock_lifted")))
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
	must(t, s.LoginSucceeded(ctx, u.ID, nil, now(), "", sess, ev("login_succeeded"), ev("account_lock_lifted")))
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
	// Reading the state uses nothing.
	for range 2 {
		if got, err := s.ActionTokenState(ctx, tok.Hash, storage.PurposeResetPassword, at); err != nil || got.UserID != u.ID {
			t.Fatalf("state: %+v %v", got, err)
		}
	}
	for purpose, when := range map[string]time.Time{storage.PurposeVerifyEmail: at, storage.PurposeResetPassword: at.Add(2 * time.Hour)} {
		if _, err := s.ActionTokenState(ctx, tok.Hash, purpose, when); err == nil {
			t.Fatalf("state for %s at %s: no error", purpose, when)
		}
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
	if _, err := s.ActionTokenState(ctx, tok.Hash, storage.PurposeResetPassword, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("state of a used token: %v", err)
	}
	if wins != 1 {
		t.Fatalf("token consumed %d times", wins)
	}
	if _, err := s.ConsumeActionToken(ctx, "nope", storage.PurposeResetPassword, at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
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
	must(t, s.RotateSigningKeys(ctx, "RS256", newNext, at, at.Add(time.Hour), time.Time{}, ev("keys_rotated")))
	// A scheduled rotation of a key that is no longer the one found due
	// (another replica rotated it at this moment) is refused.
	if err := s.RotateSigningKeys(ctx, "RS256", key("RS256", storage.KeyNext), at, at.Add(time.Hour), at, ev("keys_rotated")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a second scheduled rotation in one interval: %v, want ErrConflict", err)
	}
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
	must(t, s.RotateSigningKeys(ctx, "RS256", key("RS256", storage.KeyNext), at, at.Add(-time.Second), time.Time{}, storage.AuditEvent{}))
	keys, _ = s.SigningKeys(ctx)
	for _, k := range keys {
		if k.ID == next.ID {
			t.Fatal("expired retired key still listed")
		}
	}
	if err := s.RotateSigningKeys(ctx, "ES256", key("ES256", storage.KeyNext), at, at, time.Time{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
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

// A refresh retried within the grace period while its successor is unused
// (the answer was lost) rotates again; the lost successor then counts as
// used, so it turning up later is reuse. Past the grace, or once the
// successor was used, the old token is reuse and the family dies.
func testRefreshGrace(t *testing.T, s storage.Store) {
	now := now()
	var g storage.Grant
	family := func() (storage.Grant, string) { return grantWithToken(t, s) }
	next := func() (storage.RefreshToken, string) { return nextToken(g) }
	grace := 5 * time.Second

	g, first := family()
	lost, lostTok := next()
	refreshed := ev("token_refreshed")
	refreshed.SubjectID = random.ID()
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(first), lost, now, grace, refreshed, storage.AuditEvent{}))
	retry, retryTok := next()
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(first), retry, now.Add(time.Second), grace, refreshed, storage.AuditEvent{}); err != nil {
		t.Fatalf("a retry within the grace was refused: %v", err)
	}
	// Two rows: the rotation, and the retry marked as one (a count of the
	// refreshes clients received leaves it out).
	if rows, err := s.ListAudit(ctx, storage.AuditFilter{SubjectID: refreshed.SubjectID, Limit: 10}); err != nil || len(rows) != 2 ||
		(rows[0].Details["retry"] == "lost_answer") == (rows[1].Details["retry"] == "lost_answer") {
		t.Fatalf("audit of a rotation and its retry: %+v %v", rows, err)
	}
	third, _ := next()
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(retryTok), third, now.Add(2*time.Second), grace, storage.AuditEvent{}, storage.AuditEvent{}))
	if st, _ := s.RefreshTokenByHash(ctx, storage.HashSecret(lostTok)); st.Token.UsedAt.IsZero() {
		t.Fatal("the lost successor is still usable")
	}
	late, _ := next()
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(lostTok), late, now.Add(20*time.Second), grace, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("the lost successor turning up: %v, want reuse", err)
	}
	if gr, _ := s.GrantByID(ctx, g.ID); gr.RevokedAt.IsZero() {
		t.Fatal("reuse of the lost successor did not revoke the family")
	}

	// The successor was used: the old token again is reuse, even in grace.
	g, first = family()
	succ, succTok := next()
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(first), succ, now, grace, storage.AuditEvent{}, storage.AuditEvent{}))
	after, _ := next()
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(succTok), after, now.Add(time.Second), grace, storage.AuditEvent{}, storage.AuditEvent{}))
	again, _ := next()
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(first), again, now.Add(2*time.Second), grace, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("the old token after its successor was used: %v, want reuse", err)
	}
	if gr, _ := s.GrantByID(ctx, g.ID); gr.RevokedAt.IsZero() {
		t.Fatal("reuse did not revoke the family")
	}

	// Past the grace: reuse.
	g, first = family()
	succ, _ = next()
	must(t, s.RotateRefreshToken(ctx, storage.HashSecret(first), succ, now, grace, storage.AuditEvent{}, storage.AuditEvent{}))
	again, _ = next()
	if err := s.RotateRefreshToken(ctx, storage.HashSecret(first), again, now.Add(grace+time.Second), grace, storage.AuditEvent{}, storage.AuditEvent{}); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("a retry past the grace: %v, want reuse", err)
	}
	if gr, _ := s.GrantByID(ctx, g.ID); gr.RevokedAt.IsZero() {
		t.Fatal("reuse past the grace did not revoke the family")
	}
}
