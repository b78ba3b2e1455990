package api_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
	adminapi "github.com/optibid/idp/manage/api"
	"github.com/optibid/idp/storage"
	"gopkg.in/yaml.v3"
)

// The attack of the review: an organization anyone can create registers
// a client with its own redirect URI; a signed-in victim following one
// link must not hand it a token the management API accepts. A service
// account acts within its role in its own organization only, audited as
// itself; every /api/v1 route refuses tokens for another audience.
func TestManagementAPIAudience(t *testing.T) {
	t.Parallel()
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
				if resp.StatusCode != 400 || loc.Query().Get("code") != "" || !strings.Contains(body, "request is not valid") {
					t.Fatalf("phishing client asking for the management API (%v): %d %s", params, resp.StatusCode, loc)
				}
			}
			// Whatever it can get is no key to /api/v1 ...
			resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {e.Issuer + "/api"}}, evil, evilSecret)
			if resp.StatusCode != 400 {
				t.Fatalf("org client's own management token: %d %s", resp.StatusCode, body)
			}
			// ... and every route refuses a valid token for another audience.
			userTok := apiTokenFor(e, t, apptest.UserEmail)
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
func apiTokenFor(e *apptest.Env, t *testing.T, email string) string {
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
