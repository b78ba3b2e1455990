package provider_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// TestEndToEnd is the relying party's whole journey with a real OIDC
// client library: authorization code + PKCE through the HTML login form,
// then userinfo, refresh (with rotation and reuse detection),
// introspection, revocation and logout — on every backend.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			party := e.RelyingParty("web", apptest.WebSecret, "nonce-123")
			verifier, challenge := apptest.PKCE()
			authURL := rp.AuthURL("state-xyz", party, rp.WithCodeChallenge(challenge), rp.AuthURLOpt(rp.WithURLParam("nonce", "nonce-123")))
			b := e.Browser()
			back := b.Login(authURL, apptest.UserEmail, apptest.UserPassword)
			q := back.Query()
			if back.Scheme+"://"+back.Host+back.Path != apptest.RPCallback || q.Get("state") != "state-xyz" || q.Get("iss") != e.Issuer {
				t.Fatalf("callback to client: %s", back)
			}
			tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, q.Get("code"), party, rp.WithCodeVerifier(verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			claims := tokens.IDTokenClaims
			user, _ := e.App.Store.UserByEmail(ctx, apptest.UserEmail)
			if claims.Subject != user.ID || claims.Nonce != "nonce-123" || claims.AuthTime == 0 || claims.AccessTokenHash == "" ||
				claims.Email != apptest.UserEmail || claims.Issuer != e.Issuer {
				t.Fatalf("id token claims: %+v", claims)
			}
			if tokens.RefreshToken == "" || tokens.TokenType != "Bearer" || tokens.Expiry.IsZero() {
				t.Fatalf("token response: %+v", tokens.Token)
			}

			info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, "Bearer", claims.Subject, party)
			if err != nil || info.Email != apptest.UserEmail || info.Name != "Ada Lovelace" {
				t.Fatalf("userinfo: %+v %v", info, err)
			}

			// A refreshed ID token carries no nonce (none was sent with the
			// refresh), so the RP verifies it without one.
			party = e.RelyingParty("web", apptest.WebSecret, "")
			refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, party, tokens.RefreshToken, "", "")
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if refreshed.RefreshToken == tokens.RefreshToken || refreshed.IDTokenClaims.Subject != user.ID {
				t.Fatal("refresh token not rotated")
			}

			server, err := rs.NewResourceServerClientCredentials(ctx, e.Issuer, "web", apptest.WebSecret, rs.WithClient(e.Srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			intro, err := rs.Introspect[*oidc.IntrospectionResponse](ctx, server, refreshed.AccessToken)
			if err != nil || !intro.Active || intro.Subject != user.ID || intro.ClientID != "web" || intro.Email != apptest.UserEmail {
				t.Fatalf("introspection: %+v %v", intro, err)
			}
			// Another client learns nothing about web's token.
			other, _ := rs.NewResourceServerClientCredentials(ctx, e.Issuer, "web2", apptest.Web2Secret, rs.WithClient(e.Srv.Client()))
			if intro, _ := rs.Introspect[*oidc.IntrospectionResponse](ctx, other, refreshed.AccessToken); intro.Active {
				t.Fatal("foreign client saw an active token")
			}

			if err := rp.RevokeToken(ctx, party, refreshed.AccessToken, "access_token"); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if intro, _ := rs.Introspect[*oidc.IntrospectionResponse](ctx, server, refreshed.AccessToken); intro.Active {
				t.Fatal("revoked access token still active")
			}
			if _, err := rp.Userinfo[*oidc.UserInfo](ctx, refreshed.AccessToken, "Bearer", claims.Subject, party); err == nil {
				t.Fatal("userinfo accepted a revoked token")
			}

			// Reusing the rotated refresh token (past the grace for a lost
			// answer's retry) revokes the family: the successor dies too.
			e.Clock.Offset += 6 * time.Second
			if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, party, tokens.RefreshToken, "", ""); err == nil {
				t.Fatal("rotated refresh token accepted again")
			}
			if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, party, refreshed.RefreshToken, "", ""); err == nil {
				t.Fatal("family survived refresh-token reuse")
			}
			if evs, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{Type: "refresh_token_reuse"}); len(evs) != 1 {
				t.Fatalf("refresh_token_reuse audit rows: %d", len(evs))
			}

			// RP-initiated logout with id_token_hint: no confirmation needed,
			// registered post-logout URI with state.
			lq := url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"s1"}}
			resp, _ := b.Get("/end_session?" + lq.Encode())
			if !apptest.IsRedirect(resp.StatusCode) || resp.Header.Get("Location") != "https://rp.example/bye?state=s1" {
				t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			// The SSO session is gone: prompt=none now fails.
			_, silentChallenge := apptest.PKCE()
			resp, body := b.Follow(b.Get(e.AuthURL(map[string]string{"prompt": "none", "code_challenge": silentChallenge, "code_challenge_method": "S256"})))
			if u := b.ClientRedirect(resp, body); u.Query().Get("error") != "login_required" {
				t.Fatalf("prompt=none after logout: %s", u)
			}
			for _, typ := range []string{"login_succeeded", "code_redeemed", "token_refreshed", "token_revoked", "logout"} {
				if evs, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{Type: typ}); len(evs) == 0 {
					t.Errorf("no %s audit row", typ)
				}
			}
		})
	}
}

// A replayed code fails and revokes what the first redemption issued.
func TestCodeReplayRevokesTokens(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			code, verifier := e.CodeFor(e.Browser(), nil)
			resp, body := e.Exchange(code, verifier)
			if resp.StatusCode != 200 {
				t.Fatalf("first exchange: %d %s", resp.StatusCode, body)
			}
			var tok struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			_ = json.Unmarshal([]byte(body), &tok)
			resp, body = e.Exchange(code, verifier)
			if resp.StatusCode != 400 || !strings.Contains(body, `"invalid_grant"`) {
				t.Fatalf("replay: %d %s", resp.StatusCode, body)
			}
			if code := e.Userinfo(tok.AccessToken).StatusCode; code != 401 {
				t.Fatalf("access token from replayed code still works: %d", code)
			}
			resp, _ = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
			if resp.StatusCode != 400 {
				t.Fatalf("refresh token from replayed code still works: %d", resp.StatusCode)
			}
		})
	}
}
