package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/optibid/idp/apiauth"
	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// apisEnv is a provider with apptest.APIs declared.
func apisEnv(t *testing.T, backend string) *apptest.Env { return apptest.New(t, backend, apptest.APIs) }

// apiToken signs ada in through web for the given authorization
// parameters and redeems the code with extra token parameters.
func apiToken(e *apptest.Env, t *testing.T, authz map[string]string, tokenParams url.Values) apptest.TokenResponse {
	t.Helper()
	code, verifier := e.CodeFor(e.Browser(), authz)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier}}
	for k, v := range tokenParams {
		form[k] = v
	}
	resp, body := e.PostToken("/oauth/token", form, "web", apptest.WebSecret)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return apptest.DecodeToken(t, body)
}

func verifier(e *apptest.Env, t *testing.T, audience string) *apiauth.Verifier {
	t.Helper()
	v, err := apiauth.New(context.Background(), apiauth.Config{Issuer: e.Issuer, Audience: audience, HTTPClient: e.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func introspect(e *apptest.Env, t *testing.T, token, clientID, secret string) map[string]any {
	t.Helper()
	resp, body := e.PostToken("/oauth/introspect", url.Values{"token": {token}}, clientID, secret)
	if resp.StatusCode != 200 {
		t.Fatalf("introspect as %s: %d %s", clientID, resp.StatusCode, body)
	}
	out := map[string]any{}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func headerOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	sig, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{"alg": sig.Signatures[0].Header.Algorithm, "kid": sig.Signatures[0].Header.KeyID}
	for k, v := range sig.Signatures[0].Header.ExtraHeaders {
		h[string(k)] = v
	}
	return h
}

// A user's token for API A is an RFC 9068 token for A alone: the Go
// package verifies it as A and refuses it as B; introspection answers A
// and the issuing client in full and B nothing; the ID token is refused
// everywhere an access token is expected.
func TestAccessTokensBoundToTheirAPI(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			tr := apiToken(e, t, map[string]string{"resource": apptest.TradingAPI, "scope": "openid email org entitlements bids:read bids:submit"}, nil)
			h, c := headerOf(t, tr.AccessToken), apptest.Claims(t, tr.AccessToken)
			if h["typ"] != "at+jwt" || h["alg"] != "ES256" {
				t.Fatalf("access token header: %v", h)
			}
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != apptest.TradingAPI || c["client_id"] != "web" || c["iss"] != e.Issuer ||
				c["scope"] != "openid email org entitlements bids:read bids:submit" || c["jti"] == nil || c["auth_time"] == nil ||
				c["acr"] == nil || c["amr"] == nil || c["exp"] == nil || c["iat"] == nil {
				t.Fatalf("access token claims: %v", c)
			}
			if org, _ := c["org"].(map[string]any); org["slug"] != "acme" || org["role"] != "owner" || c["permissions"] == nil {
				t.Fatalf("organization claims for an API that receives them: %v", c)
			}
			if h := headerOf(t, tr.IDToken); h["typ"] != "JWT" || h["alg"] != "RS256" {
				t.Fatalf("id token header: %v", h)
			}

			ctx := context.Background()
			tok, err := verifier(e, t, apptest.TradingAPI).Verify(ctx, tr.AccessToken)
			if err != nil || tok.Org.Slug != "acme" || !tok.HasScope("bids:submit") || !tok.HasPermission("bids:submit") {
				t.Fatalf("trading API verifying its token: %+v %v", tok, err)
			}
			if _, err := verifier(e, t, apptest.SettlementAPI).Verify(ctx, tr.AccessToken); !errors.Is(err, apiauth.ErrWrongAudience) {
				t.Fatalf("settlement API verifying trading's token: %v", err)
			}
			if _, err := verifier(e, t, apptest.TradingAPI).Verify(ctx, tr.IDToken); !errors.Is(err, apiauth.ErrInvalidToken) {
				t.Fatalf("an ID token verified as an access token: %v", err)
			}

			full := introspect(e, t, tr.AccessToken, "trading-api", apptest.TradingSecret)
			for _, k := range []string{"exp", "iat", "nbf", "iss", "aud", "jti", "sub", "client_id", "scope", "username", "org", "permissions", "entitlements"} {
				if _, ok := full[k]; !ok || full["active"] != true {
					t.Fatalf("introspection by the API lacks %s: %v", k, full)
				}
			}
			if got := introspect(e, t, tr.AccessToken, "web", apptest.WebSecret); got["active"] != true || got["iss"] != e.Issuer {
				t.Fatalf("introspection by the issuing client: %v", got)
			}
			for _, who := range [][2]string{{"settlement-api", apptest.SettlementSecret}, {"web2", apptest.Web2Secret}} {
				if got := introspect(e, t, tr.AccessToken, who[0], who[1]); len(got) != 1 || got["active"] != false {
					t.Fatalf("introspection by %s: %v", who[0], got)
				}
			}
			if got := introspect(e, t, tr.IDToken, "web", apptest.WebSecret); got["active"] != false {
				t.Fatalf("an ID token introspected as active: %v", got)
			}
			if r := e.Userinfo(tr.IDToken); r.StatusCode != 401 {
				t.Fatalf("userinfo with an ID token: %d", r.StatusCode)
			}
			if r := e.Userinfo(tr.AccessToken); r.StatusCode != 200 {
				t.Fatalf("userinfo with an openid access token: %d", r.StatusCode)
			}
			if status, _ := e.API("GET", "/me", tr.IDToken, nil); status != 401 {
				t.Fatalf("management API with an ID token: %d", status)
			}
			if status, _ := e.API("GET", "/me", tr.AccessToken, nil); status != 401 {
				t.Fatalf("management API with a trading token: %d", status)
			}

			// RFC 9701: the same answer as a signed JWT for the API.
			req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {tr.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/token-introspection+jwt")
			req.SetBasicAuth("trading-api", apptest.TradingSecret)
			resp, err := e.Srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rawJWT, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			jwt := string(rawJWT)
			if resp.Header.Get("Content-Type") != "application/token-introspection+jwt" || headerOf(t, jwt)["typ"] != "token-introspection+jwt" {
				t.Fatalf("JWT introspection: %s %q", resp.Header.Get("Content-Type"), jwt)
			}
			if ti, _ := apptest.Claims(t, jwt)["token_introspection"].(map[string]any); ti["active"] != true || apptest.Claims(t, jwt)["aud"] != "trading-api" {
				t.Fatalf("JWT introspection claims: %v", apptest.Claims(t, jwt))
			}

			// Revocation is seen at once by introspection.
			if r, _ := e.PostToken("/revoke", url.Values{"token": {tr.AccessToken}}, "web", apptest.WebSecret); r.StatusCode != 200 {
				t.Fatalf("revoke: %d", r.StatusCode)
			}
			if got := introspect(e, t, tr.AccessToken, "trading-api", apptest.TradingSecret); got["active"] != false {
				t.Fatalf("revoked token introspected: %v", got)
			}
		})
	}
}

// RFC 8707: resources select APIs; tokens narrow to a subset at the token
// endpoint and on refresh; unknown or ungranted resources are
// invalid_target.
func TestResourceIndicators(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			both := map[string]string{"resource": "", "scope": "openid org bids:read settlement:read offline_access"}
			// API scopes alone select their APIs.
			tr := apiToken(e, t, both, nil)
			if aud, _ := apptest.Claims(t, tr.AccessToken)["aud"].([]any); len(aud) != 2 {
				t.Fatalf("two APIs by scope: %v", apptest.Claims(t, tr.AccessToken))
			}
			// The token endpoint narrows to one.
			tr = apiToken(e, t, both, url.Values{"resource": {apptest.SettlementAPI}})
			c := apptest.Claims(t, tr.AccessToken)
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != apptest.SettlementAPI || c["scope"] != "openid org settlement:read offline_access" || c["permissions"] != nil {
				t.Fatalf("narrowed token: %v", c)
			}
			// Refresh down-scopes to one API; the refresh token keeps both.
			for _, res := range []string{apptest.TradingAPI, apptest.SettlementAPI} {
				resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken},
					"resource": {res}}, "web", apptest.WebSecret)
				if resp.StatusCode != 200 {
					t.Fatalf("refresh for %s: %d %s", res, resp.StatusCode, body)
				}
				tr = apptest.DecodeToken(t, body)
				if aud, _ := apptest.Claims(t, tr.AccessToken)["aud"].([]any); len(aud) != 1 || aud[0] != res {
					t.Fatalf("refresh for %s: %v", res, apptest.Claims(t, tr.AccessToken))
				}
			}
			for name, res := range map[string]string{"unknown": "https://evil.example/api", "management": e.Issuer + "/api", "not a URI": "api"} {
				resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken},
					"resource": {res}}, "web", apptest.WebSecret)
				if resp.StatusCode != 400 || apptest.DecodeToken(t, body).Error != "invalid_target" {
					t.Fatalf("refresh for %s resource: %d %s", name, resp.StatusCode, body)
				}
			}
			// At /authorize: unknown resources, and APIs needing a grant the
			// client lacks, go back to the client as invalid_target.
			b := e.Browser()
			for name, params := range map[string]map[string]string{
				"unknown resource":      {"client_id": "web", "resource": "https://evil.example/api"},
				"ungranted API":         {"client_id": "partner", "redirect_uri": apptest.PartnerCallback, "resource": apptest.SettlementAPI},
				"ungranted API's scope": {"client_id": "partner", "redirect_uri": apptest.PartnerCallback, "scope": "openid settlement:read"},
				"management API":        {"client_id": "partner", "redirect_uri": apptest.PartnerCallback, "resource": e.Issuer + "/api"},
				"management scope":      {"client_id": "partner", "redirect_uri": apptest.PartnerCallback, "scope": "openid manage"},
			} {
				params["code_challenge"], params["code_challenge_method"] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256"
				resp, _ := b.Get(e.AuthURL(params))
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if q := loc.Query(); resp.StatusCode != 302 || (q.Get("error") != "invalid_target" && q.Get("error") != "invalid_scope") || q.Get("iss") != e.Issuer {
					t.Fatalf("%s: %d %s", name, resp.StatusCode, loc)
				}
			}
		})
	}
}

// Token exchange (RFC 8693): the trading API turns a user's token for
// itself into one for settlement, which it has a grant for; the new token
// names it in act; nobody else can, and nobody can exchange into the
// management API or beyond what the user granted.
func TestTokenExchangeBetweenAPIs(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			tr := apiToken(e, t, map[string]string{"resource": "", "scope": "openid org bids:read settlement:read"}, url.Values{"resource": {apptest.TradingAPI}})
			exchange := func(clientID, secret string, extra url.Values) (*http.Response, string) {
				form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {tr.AccessToken},
					"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "resource": {apptest.SettlementAPI}}
				for k, v := range extra {
					form[k] = v
				}
				return e.PostToken("/oauth/token", form, clientID, secret)
			}
			resp, body := exchange("trading-api", apptest.TradingSecret, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("exchange: %d %s", resp.StatusCode, body)
			}
			var out struct {
				AccessToken     string `json:"access_token"`
				IssuedTokenType string `json:"issued_token_type"`
			}
			_ = json.Unmarshal([]byte(body), &out)
			c := apptest.Claims(t, out.AccessToken)
			act, _ := c["act"].(map[string]any)
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != apptest.SettlementAPI || act["sub"] != "trading-api" || c["scope"] != "org settlement:read" ||
				out.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" || c["sub"] != apptest.Claims(t, tr.AccessToken)["sub"] {
				t.Fatalf("exchanged token: %v (%s)", c, out.IssuedTokenType)
			}
			tok, err := verifier(e, t, apptest.SettlementAPI).Verify(context.Background(), out.AccessToken)
			if err != nil || tok.Actor != "trading-api" {
				t.Fatalf("settlement verifying the exchanged token: %+v %v", tok, err)
			}
			for name, tc := range map[string]struct {
				client, secret string
				extra          url.Values
				want           string
			}{
				"an API it does not act for":   {"settlement-api", apptest.SettlementSecret, nil, "unauthorized_client"},
				"into the management API":      {"trading-api", apptest.TradingSecret, url.Values{"resource": {e.Issuer + "/api"}}, "invalid_target"},
				"into its own API":             {"trading-api", apptest.TradingSecret, url.Values{"resource": {apptest.TradingAPI}}, "invalid_target"},
				"broader than the user's":      {"trading-api", apptest.TradingSecret, url.Values{"scope": {"bids:submit"}}, "invalid_scope"},
				"an ID token as subject":       {"trading-api", apptest.TradingSecret, url.Values{"subject_token": {tr.IDToken}}, "invalid_grant"},
				"the exchanged token, re-used": {"trading-api", apptest.TradingSecret, url.Values{"subject_token": {out.AccessToken}}, "invalid_grant"},
				"by the client, not the API":   {"web", apptest.WebSecret, nil, "unauthorized_client"},
			} {
				resp, body := exchange(tc.client, tc.secret, tc.extra)
				if resp.StatusCode/100 != 4 || apptest.DecodeToken(t, body).Error != tc.want {
					t.Errorf("%s: %d %s", name, resp.StatusCode, body)
				}
			}
			// Discovery lists the grant.
			var d map[string]any
			_, raw := e.Browser().Get(e.Issuer + "/.well-known/openid-configuration")
			_ = json.Unmarshal([]byte(raw), &d)
			if gts, _ := d["grant_types_supported"].([]any); !slices.Contains(gts, any("urn:ietf:params:oauth:grant-type:token-exchange")) {
				t.Fatalf("discovery grant types: %v", d["grant_types_supported"])
			}
		})
	}
}

// CORS: an empty allow-list sends no Access-Control-Allow-Origin at all;
// an origin is allowed when the operator lists it or a client registered
// it, and no other.
func TestCORSAllowList(t *testing.T) {
	t.Parallel()
	cors := func(e *apptest.Env, method, path, origin string, body ...string) string {
		req, _ := http.NewRequest(method, e.Issuer+path, strings.NewReader("grant_type=client_credentials&"+strings.Join(body, "&")))
		req.Header.Set("Origin", origin)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := e.Srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	paths := []string{"/oauth/token", "/oauth/introspect", "/userinfo", "/revoke", "/.well-known/openid-configuration", "/authorize"}
	e := apptest.New(t, "memory")
	for _, p := range paths {
		for _, m := range []string{http.MethodOptions, http.MethodPost, http.MethodGet} {
			if got := cors(e, m, p, "https://evil.example"); got != "" {
				t.Errorf("%s %s with an empty allow-list: Access-Control-Allow-Origin %q", m, p, got)
			}
		}
	}
	e = apptest.New(t, "memory", func(c *app.Config) {
		c.HTTP.CORSAllowedOrigins = []string{"https://ops.example"}
		c.Bootstrap.Clients = append(c.Bootstrap.Clients, app.BootstrapClient{ID: "spa", Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"},
			AllowedOrigins: []string{"https://spa.example"}})
	})
	for _, origin := range []string{"https://spa.example", "https://ops.example"} {
		if got := cors(e, http.MethodOptions, "/oauth/token", origin); got != origin {
			t.Errorf("preflight from %s: %q", origin, got)
		}
	}
	for _, origin := range []string{"https://evil.example", "https://spa.example.evil.example", "null"} {
		if got := cors(e, http.MethodOptions, "/oauth/token", origin); got != "" {
			t.Errorf("preflight from %s: %q", origin, got)
		}
	}
	if got := cors(e, http.MethodGet, "/authorize", "https://spa.example"); got != "" {
		t.Errorf("/authorize sent CORS headers: %q", got)
	}
	// A client's origin serves that client only: another client's request
	// from it gets no CORS answer.
	if got := cors(e, http.MethodPost, "/oauth/token", "https://spa.example", "client_id=spa"); got != "https://spa.example" {
		t.Errorf("the SPA's own token request: %q", got)
	}
	for _, other := range []string{"client_id=web", "client_id=native", ""} {
		if got := cors(e, http.MethodPost, "/oauth/token", "https://spa.example", other); got != "" {
			t.Errorf("token request for %q from the SPA's origin: %q", other, got)
		}
	}
	// A bearer token does not speak for the token request's client.
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth/token", strings.NewReader("grant_type=authorization_code&client_id=native"))
	req.Header.Set("Origin", "https://spa.example")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer x.y.z")
	if resp, err := e.Srv.Client().Do(req); err != nil || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a bearer header borrowed the SPA's origin: %v %v", err, resp.Header)
	}
	if got := cors(e, http.MethodPost, "/oauth/token", "https://ops.example", "client_id=web"); got != "https://ops.example" {
		t.Errorf("an operator-listed origin: %q", got)
	}
}

// Findings of the adversarial review of this feature, each as the attack
// that was tried: only the API's owner grants it; an organization names
// its APIs on its own verified domains; a client cannot collect an API's
// scope by registering the name; a management token is for the
// management API alone; revocation touches only the caller's tokens.
func TestAPIOwnershipAndRevocation(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			ctx := context.Background()
			acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme")
			owner := e.TokenOf(apptest.UserEmail)

			// Identifiers: only on the organization's verified domains.
			put := func(id string) int {
				status, _ := e.API("PUT", "/orgs/"+acme.ID+"/apis", owner, map[string]any{"identifier": id, "name": "Ledger",
					"scopes": []map[string]string{{"name": "ledger:read", "description": "Read the ledger"}}})
				return status
			}
			if got := put("https://api.acme-energy.example/ledger"); got != 400 {
				t.Fatalf("API on an unverified domain: %d", got)
			}
			if err := e.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "acme-energy.example", VerifiedAt: e.Clock.Now()}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{e.Issuer + "/api", "https://api.acme-energy.example/ledger/", "HTTPS://api.acme-energy.example/ledger", apptest.TradingAPI} {
				if got := put(id); got != 400 {
					t.Errorf("look-alike or foreign identifier %q: %d", id, got)
				}
			}
			if got := put("https://api.acme-energy.example/ledger"); got != 200 {
				t.Fatalf("API on a verified domain: %d", got)
			}
			// A scope belongs to one API, and to no other owner's client.
			for _, sc := range []string{"bids:submit", "settlement:read", "market:view"} {
				status, body := e.API("PUT", "/orgs/"+acme.ID+"/apis", owner, map[string]any{"identifier": "https://api.acme-energy.example/cats",
					"name": "Cats", "scopes": []map[string]string{{"name": sc, "description": "Send you a cat picture"}}})
				if status != 409 {
					t.Errorf("an organization's API claiming scope %s: %d %v", sc, status, body)
				}
			}
			// A client cannot register an API's scope as its own.
			for _, sc := range []string{"settlement:read", "manage", "ledger:read"} {
				if status, body := e.API("POST", "/orgs/"+acme.ID+"/clients", owner, map[string]any{"name": "Planter",
					"redirect_uris": []string{"https://planter.example/cb"}, "scopes": []string{sc}}); status != 400 {
					t.Errorf("client registering API scope %s: %d %v", sc, status, body)
				}
			}
			// A reference to an API that its owner did not grant counts for
			// nothing (here: an organization's client naming a platform API
			// and acting for it, as a stale reference would).
			if _, err := e.App.Store.UpsertClient(ctx, storage.Client{ID: "squatter", OrgID: acme.ID, Name: "Squatter",
				SecretHash: storage.HashSecret(apptest.PartnerSecret), GrantTypes: []string{"client_credentials", "authorization_code"},
				RedirectURIs: []string{apptest.PartnerCallback}, APIs: []string{apptest.SettlementAPI}, ActsFor: []string{apptest.TradingAPI},
				Scopes: []string{"settlement:read"}, DefaultAPI: apptest.SettlementAPI}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			e.App.Provider.ForgetClient("squatter")
			for name, form := range map[string]url.Values{
				"by resource": {"grant_type": {"client_credentials"}, "resource": {apptest.SettlementAPI}},
				"by scope":    {"grant_type": {"client_credentials"}, "scope": {"settlement:read"}},
			} {
				if resp, body := e.PostToken("/oauth/token", form, "squatter", apptest.PartnerSecret); resp.StatusCode != 400 {
					t.Errorf("ungranted API %s: %d %s", name, resp.StatusCode, body)
				}
			}
			resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "squatter", apptest.PartnerSecret)
			if resp.StatusCode != 200 || strings.Contains(body, "settlement") {
				t.Fatalf("default API not granted by its owner: %d %s", resp.StatusCode, body)
			}
			tr := apiToken(e, t, map[string]string{"resource": apptest.TradingAPI, "scope": "openid bids:read"}, nil)
			if got := introspect(e, t, tr.AccessToken, "squatter", apptest.PartnerSecret); got["active"] != false {
				t.Fatalf("introspection through an ungranted acts_for: %v", got)
			}
			// The management API comes alone.
			b := e.Browser()
			b.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			for _, q := range []map[string]string{
				{"resource": apptest.TradingAPI + " " + e.Issuer + "/api"},
				{"resource": "", "scope": "openid manage bids:read"},
			} {
				params := map[string]string{"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
				for k, v := range q {
					params[k] = v
				}
				u := e.AuthURL(params)
				if res := q["resource"]; strings.Contains(res, " ") { // two resource parameters
					parts := strings.Fields(res)
					uu, _ := url.Parse(u)
					qq := uu.Query()
					qq["resource"] = parts
					uu.RawQuery = qq.Encode()
					u = uu.String()
				}
				resp, _ := b.Get(u)
				if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("error") != "invalid_target" {
					t.Errorf("management API with another (%v): %s", q, loc)
				}
			}

			// Revocation: only the caller's own tokens, whatever the
			// string looks like.
			victim := apiToken(e, t, map[string]string{"resource": apptest.TradingAPI, "scope": "openid bids:read offline_access"}, nil)
			grant := strings.SplitN(strings.TrimPrefix(apptest.Claims(t, victim.AccessToken)["jti"].(string), "g."), ".", 2)[0]
			for name, tc := range map[string]struct{ token, client, secret string }{
				"a made-up rt. string": {"rt." + grant, "native", ""},
				"a jti":                {apptest.Claims(t, victim.AccessToken)["jti"].(string), "web2", apptest.Web2Secret},
			} {
				if r, _ := e.PostToken("/revoke", url.Values{"token": {tc.token}, "client_id": {tc.client}}, tc.client, tc.secret); r.StatusCode != 200 {
					t.Errorf("revoke %s: %d", name, r.StatusCode)
				}
			}
			for name, tc := range map[string]struct{ token string }{"refresh token": {victim.RefreshToken}, "access token": {victim.AccessToken}} {
				if r, body := e.PostToken("/revoke", url.Values{"token": {tc.token}}, "web2", apptest.Web2Secret); r.StatusCode != 400 || !strings.Contains(body, "unauthorized_client") {
					t.Errorf("another client revoking the %s: %d %s", name, r.StatusCode, body)
				}
			}
			if got := introspect(e, t, victim.AccessToken, "web", apptest.WebSecret); got["active"] != true {
				t.Fatalf("the victim's token died from another client's revocation: %v", got)
			}
			resp, body = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {victim.RefreshToken}}, "web", apptest.WebSecret)
			if resp.StatusCode != 200 {
				t.Fatalf("the victim's refresh token after foreign revocations: %d %s", resp.StatusCode, body)
			}
		})
	}
}
