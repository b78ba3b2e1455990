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
	"gopkg.in/yaml.v3"

	"github.com/optibid/idp/apiauth"
	adminapi "github.com/optibid/idp/manage/api"
	"github.com/optibid/idp/storage"
)

const (
	tradingAPI       = "https://api.optibid.example/trading"
	settlementAPI    = "https://api.optibid.example/settlement"
	tradingSecret    = "trading-api-secret-0123456789abcdefghijkl"
	settlementSecret = "settlement-secret-0123456789abcdefghijklm"
	partnerSecret    = "partner-secret-0123456789abcdefghijklmnop"
	partnerCallback  = "https://partner.example/cb"
)

// apisEnv declares two APIs: trading (org claims, any client) and
// settlement (only clients granted it). trading-api acts for trading and
// may exchange its tokens for settlement; settlement-api acts for
// settlement. The first-party client web is granted settlement.
func apisEnv(t *testing.T, backend string) *apptest.Env {
	return apptest.New(t, backend, func(c *app.Config) {
		c.Bootstrap.APIs = []app.BootstrapAPI{
			{Identifier: tradingAPI, Name: "Trading", Claims: []string{"org", "permissions", "entitlements"},
				Scopes: []storage.APIScope{{Name: "bids:read", Description: "See your bids"}, {Name: "bids:submit", Description: "Place bids"}}},
			{Identifier: settlementAPI, Name: "Settlement", RequireGrant: true, Claims: []string{"org"},
				Scopes: []storage.APIScope{{Name: "settlement:read", Description: "See settlements"}}},
		}
		for i := range c.Bootstrap.Clients {
			if c.Bootstrap.Clients[i].ID == "web" {
				c.Bootstrap.Clients[i].APIs = []string{settlementAPI}
			}
		}
		c.Bootstrap.Clients = append(c.Bootstrap.Clients,
			app.BootstrapClient{ID: "trading-api", Secret: tradingSecret, Name: "Trading API", ActsFor: []string{tradingAPI},
				APIs: []string{settlementAPI}, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:token-exchange"}},
			app.BootstrapClient{ID: "settlement-api", Secret: settlementSecret, Name: "Settlement API", ActsFor: []string{settlementAPI},
				GrantTypes: []string{"client_credentials"}},
			app.BootstrapClient{ID: "partner", Secret: partnerSecret, Name: "Partner App", RedirectURIs: []string{partnerCallback},
				GrantTypes: []string{"authorization_code"}})
	})
}

// apiToken signs ada in through web for the given authorization
// parameters and redeems the code with extra token parameters.
func (e *apptest.Env) apiToken(t *testing.T, authz map[string]string, tokenParams url.Values) apptest.TokenResponse {
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

func (e *apptest.Env) verifier(t *testing.T, audience string) *apiauth.Verifier {
	t.Helper()
	v, err := apiauth.New(context.Background(), apiauth.Config{Issuer: e.Issuer, Audience: audience, HTTPClient: e.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *apptest.Env) introspect(t *testing.T, token, clientID, secret string) map[string]any {
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
	sig, err := jose.ParseSigned(jwt, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
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
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			tr := e.apiToken(t, map[string]string{"resource": tradingAPI, "scope": "openid email org entitlements bids:read bids:submit"}, nil)
			h, c := headerOf(t, tr.AccessToken), apptest.Claims(t, tr.AccessToken)
			if h["typ"] != "at+jwt" || h["alg"] != "ES256" {
				t.Fatalf("access token header: %v", h)
			}
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != tradingAPI || c["client_id"] != "web" || c["iss"] != e.Issuer ||
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
			tok, err := e.verifier(t, tradingAPI).Verify(ctx, tr.AccessToken)
			if err != nil || tok.Org.Slug != "acme" || !tok.HasScope("bids:submit") || !tok.HasPermission("bids:submit") {
				t.Fatalf("trading API verifying its token: %+v %v", tok, err)
			}
			if _, err := e.verifier(t, settlementAPI).Verify(ctx, tr.AccessToken); !errors.Is(err, apiauth.ErrWrongAudience) {
				t.Fatalf("settlement API verifying trading's token: %v", err)
			}
			if _, err := e.verifier(t, tradingAPI).Verify(ctx, tr.IDToken); !errors.Is(err, apiauth.ErrInvalidToken) {
				t.Fatalf("an ID token verified as an access token: %v", err)
			}

			full := e.introspect(t, tr.AccessToken, "trading-api", tradingSecret)
			for _, k := range []string{"exp", "iat", "nbf", "iss", "aud", "jti", "sub", "client_id", "scope", "username", "org", "permissions", "entitlements"} {
				if _, ok := full[k]; !ok || full["active"] != true {
					t.Fatalf("introspection by the API lacks %s: %v", k, full)
				}
			}
			if got := e.introspect(t, tr.AccessToken, "web", apptest.WebSecret); got["active"] != true || got["iss"] != e.Issuer {
				t.Fatalf("introspection by the issuing client: %v", got)
			}
			for _, who := range [][2]string{{"settlement-api", settlementSecret}, {"web2", apptest.Web2Secret}} {
				if got := e.introspect(t, tr.AccessToken, who[0], who[1]); len(got) != 1 || got["active"] != false {
					t.Fatalf("introspection by %s: %v", who[0], got)
				}
			}
			if got := e.introspect(t, tr.IDToken, "web", apptest.WebSecret); got["active"] != false {
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
			req.SetBasicAuth("trading-api", tradingSecret)
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
			if got := e.introspect(t, tr.AccessToken, "trading-api", tradingSecret); got["active"] != false {
				t.Fatalf("revoked token introspected: %v", got)
			}
		})
	}
}

// RFC 8707: resources select APIs; tokens narrow to a subset at the token
// endpoint and on refresh; unknown or ungranted resources are
// invalid_target.
func TestResourceIndicators(t *testing.T) {
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			both := map[string]string{"resource": "", "scope": "openid org bids:read settlement:read offline_access"}
			// API scopes alone select their APIs.
			tr := e.apiToken(t, both, nil)
			if aud, _ := apptest.Claims(t, tr.AccessToken)["aud"].([]any); len(aud) != 2 {
				t.Fatalf("two APIs by scope: %v", apptest.Claims(t, tr.AccessToken))
			}
			// The token endpoint narrows to one.
			tr = e.apiToken(t, both, url.Values{"resource": {settlementAPI}})
			c := apptest.Claims(t, tr.AccessToken)
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != settlementAPI || c["scope"] != "openid org settlement:read offline_access" || c["permissions"] != nil {
				t.Fatalf("narrowed token: %v", c)
			}
			// Refresh down-scopes to one API; the refresh token keeps both.
			for _, res := range []string{tradingAPI, settlementAPI} {
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
				"ungranted API":         {"client_id": "partner", "redirect_uri": partnerCallback, "resource": settlementAPI},
				"ungranted API's scope": {"client_id": "partner", "redirect_uri": partnerCallback, "scope": "openid settlement:read"},
				"management API":        {"client_id": "partner", "redirect_uri": partnerCallback, "resource": e.Issuer + "/api"},
				"management scope":      {"client_id": "partner", "redirect_uri": partnerCallback, "scope": "openid manage"},
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
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			tr := e.apiToken(t, map[string]string{"resource": "", "scope": "openid org bids:read settlement:read"}, url.Values{"resource": {tradingAPI}})
			exchange := func(clientID, secret string, extra url.Values) (*http.Response, string) {
				form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {tr.AccessToken},
					"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "resource": {settlementAPI}}
				for k, v := range extra {
					form[k] = v
				}
				return e.PostToken("/oauth/token", form, clientID, secret)
			}
			resp, body := exchange("trading-api", tradingSecret, nil)
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
			if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != settlementAPI || act["sub"] != "trading-api" || c["scope"] != "org settlement:read" ||
				out.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" || c["sub"] != apptest.Claims(t, tr.AccessToken)["sub"] {
				t.Fatalf("exchanged token: %v (%s)", c, out.IssuedTokenType)
			}
			tok, err := e.verifier(t, settlementAPI).Verify(context.Background(), out.AccessToken)
			if err != nil || tok.Actor != "trading-api" {
				t.Fatalf("settlement verifying the exchanged token: %+v %v", tok, err)
			}
			for name, tc := range map[string]struct {
				client, secret string
				extra          url.Values
				want           string
			}{
				"an API it does not act for":   {"settlement-api", settlementSecret, nil, "unauthorized_client"},
				"into the management API":      {"trading-api", tradingSecret, url.Values{"resource": {e.Issuer + "/api"}}, "invalid_target"},
				"into its own API":             {"trading-api", tradingSecret, url.Values{"resource": {tradingAPI}}, "invalid_target"},
				"broader than the user's":      {"trading-api", tradingSecret, url.Values{"scope": {"bids:submit"}}, "invalid_scope"},
				"an ID token as subject":       {"trading-api", tradingSecret, url.Values{"subject_token": {tr.IDToken}}, "invalid_grant"},
				"the exchanged token, re-used": {"trading-api", tradingSecret, url.Values{"subject_token": {out.AccessToken}}, "invalid_grant"},
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

// The attack of the review: an organization anyone can create registers
// a client with its own redirect URI; a signed-in victim following one
// link must not hand it a token the management API accepts. A service
// account acts within its role in its own organization only, audited as
// itself; every /api/v1 route refuses tokens for another audience.
func TestManagementAPIAudience(t *testing.T) {
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, globex := adminEnv(t, backend)
			carol := e.TokenOf("carol@globex.example")
			status, created := e.API("POST", "/orgs/"+globex.ID+"/clients", carol, map[string]any{"name": "Phish",
				"redirect_uris": []string{"https://evil.example/cb"}})
			if status != 201 {
				t.Fatalf("register client: %d %v", status, created)
			}
			evil, evilSecret := created["client_id"].(string), created["client_secret"].(string)
			// Ada (owner of acme) is signed in and follows carol's link.
			b := e.Browser()
			b.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			ch := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
			for _, params := range []map[string]string{
				{"resource": e.Issuer + "/api", "scope": "openid manage"},
				{"scope": "openid manage"},
				{"scope": "openid manage:read"},
			} {
				params["client_id"], params["redirect_uri"], params["code_challenge"], params["code_challenge_method"] = evil, "https://evil.example/cb", ch, "S256"
				resp, body := b.Get(e.AuthURL(params))
				loc, _ := url.Parse(resp.Header.Get("Location"))
				// A client of an organization without a verified domain gets
				// no error redirect either: an error page.
				if resp.StatusCode != 400 || loc.Query().Get("code") != "" || !strings.Contains(body, "invalid_") {
					t.Fatalf("phishing client asking for the management API (%v): %d %s", params, resp.StatusCode, loc)
				}
			}
			// Whatever it can get is no key to /api/v1 ...
			resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {e.Issuer + "/api"}}, evil, evilSecret)
			if resp.StatusCode != 400 {
				t.Fatalf("org client's own management token: %d %s", resp.StatusCode, body)
			}
			// ... and every route refuses a valid token for another audience.
			userTok := e.apiTokenFor(t, apptest.UserEmail)
			walkManagementRoutes(t, e, acme.ID, userTok, 401)

			// A service account with role admin in globex.
			status, sa := e.API("POST", "/orgs/"+globex.ID+"/clients", carol, map[string]any{"name": "Robot",
				"grant_types": []string{"client_credentials"}, "service_role": "admin"})
			if status != 201 {
				t.Fatalf("service account: %d %v", status, sa)
			}
			resp, body = e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {e.Issuer + "/api"},
				"scope": {"manage"}}, sa["client_id"].(string), sa["client_secret"].(string))
			if resp.StatusCode != 200 {
				t.Fatalf("service account token: %d %s", resp.StatusCode, body)
			}
			robot := apptest.DecodeToken(t, body).AccessToken
			if org, _ := apptest.Claims(t, robot)["org"].(map[string]any); org["id"] != globex.ID || org["role"] != "admin" {
				t.Fatalf("service account claims: %v", apptest.Claims(t, robot))
			}
			if status, _ := e.API("GET", "/orgs/"+globex.ID+"/members", robot, nil); status != 200 {
				t.Fatalf("service account reading its org: %d", status)
			}
			if status, _ := e.API("DELETE", "/orgs/"+globex.ID, robot, map[string]any{"confirm": "globex"}); status != 403 {
				t.Fatalf("admin service account deleting its org: %d", status)
			}
			defer func() {
				// Deleting the organization ends its clients at once: their
				// tokens stop, and asking for more is invalid_client, not 503.
				if status, _ := e.API("DELETE", "/orgs/"+globex.ID, carol, map[string]any{"confirm": "globex"}); status != 204 {
					t.Fatalf("delete globex: %d", status)
				}
				resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {e.Issuer + "/api"},
					"scope": {"manage"}}, sa["client_id"].(string), sa["client_secret"].(string))
				if resp.StatusCode != 401 {
					t.Fatalf("service account of a deleted organization: %d %s", resp.StatusCode, body)
				}
			}()
			if status, _ := e.API("GET", "/orgs/"+acme.ID+"/members", robot, nil); status != 404 {
				t.Fatalf("service account in another org: %d", status)
			}
			if status, _ := e.API("GET", "/me", robot, nil); status != 403 {
				t.Fatalf("service account as a person: %d", status)
			}
			// A service account may not be created above the caller's role.
			bob := e.TokenOf("bob@example.com")
			if status, _ := e.API("POST", "/orgs/"+acme.ID+"/clients", bob, map[string]any{"name": "Up",
				"grant_types": []string{"client_credentials"}, "service_role": "owner"}); status != 403 && status != 400 {
				t.Fatalf("member creating an owner service account: %d", status)
			}
			// Actions are audited as the service account.
			if status, body := e.API("PATCH", "/orgs/"+globex.ID, robot, map[string]any{"name": "Globex Robotics"}); status != 200 {
				t.Fatalf("admin service account renaming its org: %d %v", status, body)
			}
			evs, err := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{OrgID: globex.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(evs, func(ev storage.AuditEvent) bool {
				return ev.ClientID == sa["client_id"] && ev.ActorID == sa["client_id"]
			}) {
				t.Fatalf("no audit row names the service account: %+v", evs)
			}
			// A revoked service-account token stops at once.
			if r, _ := e.PostToken("/revoke", url.Values{"token": {robot}}, sa["client_id"].(string), sa["client_secret"].(string)); r.StatusCode != 200 {
				t.Fatalf("revoke service token: %d", r.StatusCode)
			}
			if status, _ := e.API("GET", "/orgs/"+globex.ID+"/members", robot, nil); status != 401 {
				t.Fatalf("revoked service account token: %d", status)
			}
		})
	}
}

// apiTokenFor is a valid access token of the user for an API other than
// the management API (here: one the user's org grants nothing special).
func (e *apptest.Env) apiTokenFor(t *testing.T, email string) string {
	t.Helper()
	verifier, ch := apptest.PKCE()
	u := e.Browser().Login(e.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256",
		"scope": "openid profile email org"}), email, apptest.UserPassword)
	_, body := e.Exchange(u.Query().Get("code"), verifier)
	return apptest.DecodeToken(t, body).AccessToken
}

// walkManagementRoutes calls every route of the OpenAPI file with token
// and expects status from each.
func walkManagementRoutes(t *testing.T, e *apptest.Env, orgID, token string, want int) {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(adminapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, ops := range doc.Paths {
		if path == "/openapi.yaml" {
			continue
		}
		p := strings.NewReplacer("{org}", orgID, "{user}", "u", "{domain}", "d.example", "{feature}", "f", "{connection}", "c",
			"{client}", "c", "{invitation}", "i", "{template}", "t").Replace(path)
		for method := range ops {
			if method == "parameters" {
				continue
			}
			n++
			if status, body := e.API(strings.ToUpper(method), p, token, map[string]any{}); status != want {
				t.Errorf("%s %s with a foreign-audience token: %d %v", strings.ToUpper(method), path, status, body)
			}
		}
	}
	if n < 30 {
		t.Fatalf("walked only %d routes", n)
	}
}

// CORS: an empty allow-list sends no Access-Control-Allow-Origin at all;
// an origin is allowed when the operator lists it or a client registered
// it, and no other.
func TestCORSAllowList(t *testing.T) {
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

// A client that is not the operator's own never gets a user's grant
// silently: consent before its first grant of a scope set, again when it
// asks for more, and prompt=none answers consent_required meanwhile.
func TestConsentForThirdPartyClients(t *testing.T) {
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apisEnv(t, backend)
			b := e.Browser()
			authz := func(scope, prompt string) string {
				return e.AuthURL(map[string]string{"client_id": "partner", "redirect_uri": partnerCallback, "scope": scope, "prompt": prompt,
					"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
			}
			// First sign-in: the consent page, in words (the API's own
			// description for its scope).
			_, page := b.Follow(b.Get(authz("openid email bids:read", "")))
			resp, page := b.Follow(b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword))
			if resp.StatusCode != 200 || !strings.Contains(page, "Allow access?") || !strings.Contains(page, "Trading: See your bids") {
				t.Fatalf("first grant without consent: %d %.300s", resp.StatusCode, page)
			}
			// Silent re-authorization before consent: consent_required.
			if loc := b.ClientRedirect(b.Follow(b.Get(authz("openid email bids:read", "none")))); loc.Query().Get("error") != "consent_required" {
				t.Fatalf("prompt=none before consent: %s", loc)
			}
			// Allow: a code.
			_, page = b.Follow(b.Get(authz("openid email bids:read", "")))
			form := apptest.Hidden(page)
			form.Set("decision", "allow")
			resp, body := b.Follow(b.Post("/consent", form))
			if u := b.ClientRedirect(resp, body); u == nil || u.Query().Get("code") == "" {
				t.Fatalf("allow: %d %.2000s", resp.StatusCode, body)
			}
			// The same (or fewer) scopes: no question.
			for _, scope := range []string{"openid email bids:read", "openid bids:read"} {
				resp, body = b.Follow(b.Get(authz(scope, "")))
				if u := b.ClientRedirect(resp, body); u == nil || u.Query().Get("code") == "" {
					t.Fatalf("consented scopes %q asked again: %d %.200s", scope, resp.StatusCode, body)
				}
			}
			// More: asked again.
			_, page = b.Follow(b.Get(authz("openid email bids:read bids:submit", "")))
			if !strings.Contains(page, "Allow access?") {
				t.Fatalf("new scope granted silently: %.200s", page)
			}
			evs, _ := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{Type: "consent_granted"})
			if len(evs) != 1 {
				t.Fatalf("consent_granted audit rows: %d", len(evs))
			}
		})
	}
}

// Findings of the adversarial review of this feature, each as the attack
// that was tried: only the API's owner grants it; an organization names
// its APIs on its own verified domains; a client cannot collect an API's
// scope by registering the name; a management token is for the
// management API alone; revocation touches only the caller's tokens.
func TestAPIOwnershipAndRevocation(t *testing.T) {
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
			for _, id := range []string{e.Issuer + "/api", "https://api.acme-energy.example/ledger/", "HTTPS://api.acme-energy.example/ledger", tradingAPI} {
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
				SecretHash: storage.HashSecret(partnerSecret), GrantTypes: []string{"client_credentials", "authorization_code"},
				RedirectURIs: []string{partnerCallback}, APIs: []string{settlementAPI}, ActsFor: []string{tradingAPI},
				Scopes: []string{"settlement:read"}, DefaultAPI: settlementAPI}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			e.App.Provider.ForgetClient("squatter")
			for name, form := range map[string]url.Values{
				"by resource": {"grant_type": {"client_credentials"}, "resource": {settlementAPI}},
				"by scope":    {"grant_type": {"client_credentials"}, "scope": {"settlement:read"}},
			} {
				if resp, body := e.PostToken("/oauth/token", form, "squatter", partnerSecret); resp.StatusCode != 400 {
					t.Errorf("ungranted API %s: %d %s", name, resp.StatusCode, body)
				}
			}
			resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "squatter", partnerSecret)
			if resp.StatusCode != 200 || strings.Contains(body, "settlement") {
				t.Fatalf("default API not granted by its owner: %d %s", resp.StatusCode, body)
			}
			tr := e.apiToken(t, map[string]string{"resource": tradingAPI, "scope": "openid bids:read"}, nil)
			if got := e.introspect(t, tr.AccessToken, "squatter", partnerSecret); got["active"] != false {
				t.Fatalf("introspection through an ungranted acts_for: %v", got)
			}
			// The management API comes alone.
			b := e.Browser()
			b.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			for _, q := range []map[string]string{
				{"resource": tradingAPI + " " + e.Issuer + "/api"},
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
			victim := e.apiToken(t, map[string]string{"resource": tradingAPI, "scope": "openid bids:read offline_access"}, nil)
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
			if got := e.introspect(t, victim.AccessToken, "web", apptest.WebSecret); got["active"] != true {
				t.Fatalf("the victim's token died from another client's revocation: %v", got)
			}
			resp, body = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {victim.RefreshToken}}, "web", apptest.WebSecret)
			if resp.StatusCode != 200 {
				t.Fatalf("the victim's refresh token after foreign revocations: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// Platform APIs through the management API: platform admins only, under
// the same rules; a new API serves tokens at once on this replica.
func TestPlatformAPIsThroughTheManagementAPI(t *testing.T) {
	e := apisEnv(t, "memory")
	ctx := context.Background()
	ada := e.User(apptest.UserEmail)
	owner := e.TokenOf(apptest.UserEmail)
	api := map[string]any{"identifier": "https://api.optibid.example/market", "name": "Market data",
		"scopes": []map[string]string{{"name": "market:read", "description": "See prices"}}, "claims": []string{"org"}}
	if status, _ := e.API("PUT", "/apis", owner, api); status != 403 {
		t.Fatalf("an organization owner creating a platform API: %d", status)
	}
	if err := e.App.Store.SetPlatformAdmin(ctx, ada.ID, true, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if status, body := e.API("PUT", "/apis", owner, api); status != 200 {
		t.Fatalf("platform admin creating a platform API: %d %v", status, body)
	}
	bad := map[string]any{"identifier": "https://api.optibid.example/market/", "name": "Look-alike"}
	if status, _ := e.API("PUT", "/apis", owner, bad); status != 400 {
		t.Fatalf("look-alike identifier: %d", status)
	}
	resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"market:read"}}, "settlement-api", settlementSecret)
	if resp.StatusCode != 200 {
		t.Fatalf("token for the new API: %d %s", resp.StatusCode, body)
	}
	if aud, _ := apptest.Claims(t, apptest.DecodeToken(t, body).AccessToken)["aud"].([]any); len(aud) != 1 || aud[0] != "https://api.optibid.example/market" {
		t.Fatalf("audience: %v", aud)
	}
	if status, _ := e.API("DELETE", "/apis?identifier="+url.QueryEscape("https://api.optibid.example/market"), owner, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if resp, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://api.optibid.example/market"}}, "settlement-api", settlementSecret); resp.StatusCode != 400 {
		t.Fatalf("token for a deleted API: %d", resp.StatusCode)
	}
}
