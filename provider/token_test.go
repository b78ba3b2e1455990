package provider_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Codes are single use, bound to client and redirect URI, short-lived,
// and token responses are well-formed (CHECKS 25–30).
func TestCodesAreSingleUseBoundAndShortLived(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	t.Run("29 response shape and entropy", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		if len(code) < 43 {
			t.Fatalf("code has fewer than 256 bits: %q", code)
		}
		resp, body := e.Exchange(code, v)
		tr := apptest.DecodeToken(t, body)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || tr.TokenType != "Bearer" ||
			tr.ExpiresIn < 800 || tr.ExpiresIn > 900 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		if len(tr.RefreshToken) < 43 {
			t.Fatalf("refresh token too short: %q", tr.RefreshToken)
		}
		if jti, _ := apptest.Claims(t, tr.AccessToken)["jti"].(string); len(jti) < 20 {
			t.Fatalf("access token jti too short: %q", jti)
		}
	})
	t.Run("25 replay after success", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		first := apptest.DecodeToken(t, func() string { _, b := e.Exchange(code, v); return b }())
		resp, body := e.Exchange(code, v)
		if resp.StatusCode != 400 || apptest.DecodeToken(t, body).Error != "invalid_grant" {
			t.Fatalf("replay: %d %s", resp.StatusCode, body)
		}
		if e.Userinfo(first.AccessToken).StatusCode != 401 {
			t.Fatal("first access token survived the replay")
		}
	})
	t.Run("26 other client", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {apptest.RPCallback}, "code_verifier": {v}}, "web2", apptest.Web2Secret)
		if resp.StatusCode != 400 || apptest.DecodeToken(t, body).Error != "invalid_grant" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("26 other redirect_uri", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {"https://rp.example/cb2"}, "code_verifier": {v}}, "web", apptest.WebSecret)
		if resp.StatusCode != 400 || apptest.DecodeToken(t, body).Error != "invalid_grant" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("27 expired code", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		e.Clock.Offset = 61 * time.Second
		defer func() { e.Clock.Offset = 0 }()
		resp, body := e.Exchange(code, v)
		if resp.StatusCode != 400 || apptest.DecodeToken(t, body).Error != "invalid_grant" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("30 bad secret", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {apptest.RPCallback}, "code_verifier": {v}}, "web", "wrong-secret")
		if resp.StatusCode != 401 || apptest.DecodeToken(t, body).Error != "invalid_client" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("30 client_secret_post works", func(t *testing.T) {
		code, v := e.CodeFor(e.Browser(), nil)
		resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {apptest.RPCallback}, "code_verifier": {v}, "client_id": {"web"}, "client_secret": {apptest.WebSecret}}, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// 50 parallel redemptions of one code: exactly one 200 (CHECKS 28, F6).
func TestParallelRedemptionsOfOneCodeSucceedOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			code, v := e.CodeFor(e.Browser(), nil)
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes := map[int]int{}
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, _ := e.Exchange(code, v)
					mu.Lock()
					codes[resp.StatusCode]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if codes[200] != 1 || codes[400] != 49 {
				t.Fatalf("status counts %v, want one 200 and 49 400", codes)
			}
		})
	}
}

// No private_key_jwt, no password grant, no unregistered grants (CHECKS
// 31–32).
func TestTokenEndpointRefusesUnsupportedGrants(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	cases := []struct {
		name           string
		form           url.Values
		client, secret string
		want           string
	}{
		{"password grant", url.Values{"grant_type": {"password"}, "username": {apptest.UserEmail}, "password": {apptest.UserPassword}}, "web", apptest.WebSecret, "unsupported_grant_type"},
		{"unknown grant", url.Values{"grant_type": {"urn:x:magic"}}, "web", apptest.WebSecret, "unsupported_grant_type"},
		{"client_credentials not registered", url.Values{"grant_type": {"client_credentials"}}, "web", apptest.WebSecret, "unauthorized_client"},
		{"private_key_jwt", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {"eyJhbGciOiJub25lIn0.eyJpc3MiOiJzdmMifQ."}}, "", "", "invalid_client"},
		{"no grant_type", url.Values{}, "web", apptest.WebSecret, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.PostToken("/oauth/token", tc.form, tc.client, tc.secret)
			if tr := apptest.DecodeToken(t, body); tr.Error != tc.want || resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("%d %s, want %s", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// client_credentials: ES256 per client, no audit row per token, counted
// in metrics, introspectable by its own client only.
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"market:view"}}, "svc", apptest.SvcSecret)
			tr := apptest.DecodeToken(t, body)
			if resp.StatusCode != 200 || tr.AccessToken == "" || tr.RefreshToken != "" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			sig, err := jose.ParseSignedCompact(tr.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil || sig.Signatures[0].Header.Algorithm != "ES256" {
				t.Fatalf("client alg ES256 not used: %v", err)
			}
			if c := apptest.Claims(t, tr.AccessToken); c["sub"] != "svc" || c["scope"] != "market:view" {
				t.Fatalf("claims %v", c)
			}
			if resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"bids:submit"}}, "svc", apptest.SvcSecret); resp.StatusCode != 400 || apptest.DecodeToken(t, body).Error != "invalid_scope" {
				t.Fatalf("unregistered scope: %d %s", resp.StatusCode, body)
			}
			resp, body = e.PostToken("/oauth/introspect", url.Values{"token": {tr.AccessToken}}, "svc", apptest.SvcSecret)
			if !strings.Contains(body, `"active":true`) {
				t.Fatalf("introspection: %d %s", resp.StatusCode, body)
			}
			if _, body := e.PostToken("/oauth/introspect", url.Values{"token": {tr.AccessToken}}, "web", apptest.WebSecret); strings.Contains(body, `"active":true`) {
				t.Fatal("another client introspected svc's token")
			}
			if evs, _ := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{}); len(evs) != countBootstrapEvents(e) {
				t.Fatalf("client_credentials wrote audit rows: %d", len(evs))
			}
			_, body = e.Browser().Get("/metrics")
			if !strings.Contains(body, `optibid_client_credentials_tokens_total{client_id="svc"} 1`) {
				t.Fatalf("metric missing: %.300s", body)
			}
			if r, _ := e.PostToken("/revoke", url.Values{"token": {tr.AccessToken}}, "svc", apptest.SvcSecret); r.StatusCode != 200 {
				t.Fatalf("revoke: %d", r.StatusCode)
			}
			if _, body := e.PostToken("/oauth/introspect", url.Values{"token": {tr.AccessToken}}, "svc", apptest.SvcSecret); strings.Contains(body, `"active":true`) {
				t.Fatal("revoked client_credentials token still active")
			}
		})
	}
}

func countBootstrapEvents(e *apptest.Env) int {
	evs, _ := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{ActorID: "bootstrap"})
	keys, _ := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{Type: "signing_keys_created"})
	return len(evs) + len(keys)
}

// A token request is judged client first: bad or missing credentials are
// invalid_client (also with a bogus code), and a request with the wrong
// redirect_uri or PKCE verifier does not burn the code for its real client.
func TestForgedTokenRequestsDoNotBurnTheCode(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			code, verifier := e.CodeFor(e.Browser(), nil)
			base := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier}}
			with := func(k, v string) url.Values {
				f := url.Values{}
				for kk, vv := range base {
					f[kk] = vv
				}
				f.Set(k, v)
				return f
			}
			if resp, body := e.PostToken("/oauth/token", with("code", "bogus"), "web", "wrong secret"); resp.StatusCode != 401 || apptest.DecodeToken(t, body).Error != "invalid_client" {
				t.Fatalf("wrong secret with a bogus code: %d %s", resp.StatusCode, body)
			}
			for name, tc := range map[string]struct {
				form           url.Values
				client, secret string
			}{
				"no credentials":         {base, "", ""},
				"wrong secret":           {base, "web", "wrong secret"},
				"another client":         {base, "web2", apptest.Web2Secret},
				"another redirect_uri":   {with("redirect_uri", "https://rp.example/cb2"), "web", apptest.WebSecret},
				"wrong verifier":         {with("code_verifier", strings.Repeat("x", 43)), "web", apptest.WebSecret},
				"no verifier":            {with("code_verifier", ""), "web", apptest.WebSecret},
				"a public client's name": {with("client_id", "native"), "", ""},
			} {
				if resp, body := e.PostToken("/oauth/token", tc.form, tc.client, tc.secret); resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
				}
			}
			if resp, body := e.PostToken("/oauth/token", base, "web", apptest.WebSecret); resp.StatusCode != 200 {
				t.Fatalf("the real client after forged requests: %d %s", resp.StatusCode, body)
			}
		})
	}
}
