package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Refresh tokens are bound to their client and scopes, rotate, die with
// their family on reuse, and die on password change and user disable
// (CHECKS 33–35).
func TestRefreshTokensAreBoundRotatedAndRevoked(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			fresh := func() apptest.TokenResponse {
				code, v := e.CodeFor(e.Browser(), nil)
				_, body := e.Exchange(code, v)
				return apptest.DecodeToken(t, body)
			}
			refresh := func(rt, client, secret, scope string) (*http.Response, apptest.TokenResponse) {
				f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
				if scope != "" {
					f.Set("scope", scope)
				}
				resp, body := e.PostToken("/oauth/token", f, client, secret)
				return resp, apptest.DecodeToken(t, body)
			}
			tok := fresh()
			if resp, tr := refresh(tok.RefreshToken, "web2", apptest.Web2Secret, ""); resp.StatusCode != 400 || tr.Error != "invalid_grant" {
				t.Fatalf("33 other client: %d %+v", resp.StatusCode, tr)
			}
			if resp, tr := refresh(tok.RefreshToken, "web", apptest.WebSecret, "openid profile email offline_access admin"); resp.StatusCode != 400 || tr.Error != "invalid_scope" {
				t.Fatalf("33 broader scope: %d %+v", resp.StatusCode, tr)
			}
			resp, narrowed := refresh(tok.RefreshToken, "web", apptest.WebSecret, "openid")
			if resp.StatusCode != 200 || apptest.Claims(t, narrowed.AccessToken)["scope"] != "openid" {
				t.Fatalf("narrower scope: %d %+v", resp.StatusCode, narrowed)
			}
			// 34: reuse of the rotated token (outside the grace for retries)
			// kills the new one and its access token.
			e.Clock.Offset += 6 * time.Second
			if resp, _ := refresh(tok.RefreshToken, "web", apptest.WebSecret, ""); resp.StatusCode != 400 {
				t.Fatalf("34 reuse accepted: %d", resp.StatusCode)
			}
			if resp, _ := refresh(narrowed.RefreshToken, "web", apptest.WebSecret, ""); resp.StatusCode != 400 {
				t.Fatal("34 successor survived reuse")
			}
			if e.Userinfo(narrowed.AccessToken).StatusCode != 401 {
				t.Fatal("34 access token survived family revocation")
			}
			// 35: password change and disable revoke refresh tokens.
			user, _ := e.App.Store.UserByEmail(ctx, apptest.UserEmail)
			tok = fresh()
			if err := e.App.Store.SetPassword(ctx, user.ID, user.PasswordHash, time.Now(), storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			if resp, _ := refresh(tok.RefreshToken, "web", apptest.WebSecret, ""); resp.StatusCode != 400 {
				t.Fatal("35 refresh token survived a password change")
			}
			tok = fresh()
			if err := e.App.Store.SetDisabled(ctx, user.ID, true, time.Now(), storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			if resp, _ := refresh(tok.RefreshToken, "web", apptest.WebSecret, ""); resp.StatusCode != 400 {
				t.Fatal("35 refresh token survived disabling the user")
			}
			if e.Userinfo(tok.AccessToken).StatusCode != 401 {
				t.Fatal("35 access token survived disabling the user")
			}
		})
	}
}

// 50 parallel refreshes of one token: exactly one wins; the documented
// rule (no grace period) then revokes the family (CHECKS 34, F6).
func TestParallelRefreshesOfOneTokenSucceedOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			// Without the retry grace: exactly one rotation wins.
			e := apptest.New(t, backend, func(c *app.Config) { c.Tokens.RefreshGrace = -time.Second })
			code, v := e.CodeFor(e.Browser(), nil)
			_, body := e.Exchange(code, v)
			rt := apptest.DecodeToken(t, body).RefreshToken
			var wg sync.WaitGroup
			var mu sync.Mutex
			counts := map[int]int{}
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", apptest.WebSecret)
					mu.Lock()
					counts[resp.StatusCode]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if counts[200] != 1 || counts[400] != 49 {
				t.Fatalf("status counts %v, want one 200 and 49 400 (no 5xx)", counts)
			}
		})
	}
}

// Revocation answers 200 and the token is dead; other clients cannot
// revoke; unknown tokens succeed silently (CHECKS 36).
func TestRevocationKillsTheTokenForItsOwnClientOnly(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	tok := apptest.DecodeToken(t, body)
	revoke := func(token, hint, client, secret string) *http.Response {
		f := url.Values{"token": {token}}
		if hint != "" {
			f.Set("token_type_hint", hint)
		}
		resp, _ := e.PostToken("/revoke", f, client, secret)
		return resp
	}
	if r := revoke(tok.RefreshToken, "refresh_token", "web2", apptest.Web2Secret); r.StatusCode < 400 || r.StatusCode >= 500 {
		t.Fatalf("foreign revoke: %d", r.StatusCode)
	}
	if r := revoke(tok.AccessToken, "access_token", "web2", apptest.Web2Secret); r.StatusCode < 400 || r.StatusCode >= 500 {
		t.Fatalf("foreign access-token revoke: %d", r.StatusCode)
	}
	if e.Userinfo(tok.AccessToken).StatusCode != 200 {
		t.Fatal("foreign revoke killed the token")
	}
	if r := revoke("garbage-token", "", "web", apptest.WebSecret); r.StatusCode != 200 {
		t.Fatalf("unknown token: %d", r.StatusCode)
	}
	if r := revoke(tok.RefreshToken, "", "web", apptest.WebSecret); r.StatusCode != 200 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	resp, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
	if resp.StatusCode != 400 {
		t.Fatal("revoked refresh token still works")
	}
	if e.Userinfo(tok.AccessToken).StatusCode != 401 {
		t.Fatal("access tokens of a revoked refresh token still work")
	}
}

// A refresh whose answer was lost (a replica died mid-request) and is
// retried with the same token within the grace keeps its family: the retry
// gets fresh tokens, the lost successor dies, and that lost successor
// turning up later is reuse, which revokes the family.
func TestRefreshRetryWithinGraceKeepsTheFamily(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			code, v := e.CodeFor(e.Browser(), nil)
			_, body := e.Exchange(code, v)
			first := apptest.DecodeToken(t, body).RefreshToken
			refresh := func(rt string) (int, apptest.TokenResponse) {
				resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", apptest.WebSecret)
				return resp.StatusCode, apptest.DecodeToken(t, body)
			}
			status, lost := refresh(first) // its answer never reaches the client
			if status != 200 {
				t.Fatalf("refresh: %d", status)
			}
			e.Clock.Offset += 2 * time.Second
			status, retried := refresh(first)
			if status != 200 || retried.RefreshToken == "" || retried.RefreshToken == lost.RefreshToken {
				t.Fatalf("retry within the grace: %d %+v", status, retried)
			}
			status, next := refresh(retried.RefreshToken)
			if status != 200 {
				t.Fatalf("the retry's token: %d", status)
			}
			if e.Userinfo(next.AccessToken).StatusCode != 200 {
				t.Fatal("the family did not survive the retry")
			}
			e.Clock.Offset += 10 * time.Second
			if status, _ := refresh(lost.RefreshToken); status != 400 {
				t.Fatalf("the lost successor turning up: %d", status)
			}
			if e.Userinfo(next.AccessToken).StatusCode != 401 {
				t.Fatal("the lost successor's reuse did not revoke the family")
			}
		})
	}
}
