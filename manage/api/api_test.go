package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"gopkg.in/yaml.v3"

	"github.com/optibid/idp/app/apptest"
	adminapi "github.com/optibid/idp/manage/api"
)

// The OpenAPI file and the router describe the same API.
func TestAdminOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(adminapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var spec []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				spec = append(spec, strings.ToUpper(m)+" /api/v1"+p)
			}
		}
	}
	r := mux.NewRouter()
	adminapi.New(adminapi.Deps{}).Register(r)
	var routes []string
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err1 := route.GetPathTemplate()
		methods, err2 := route.GetMethods()
		if err1 == nil && err2 == nil {
			for _, m := range methods {
				routes = append(routes, m+" "+tpl)
			}
		}
		return nil
	})
	sort.Strings(spec)
	sort.Strings(routes)
	if !slices.Equal(spec, routes) {
		t.Fatalf("openapi.yaml and router differ:\nspec:   %v\nrouter: %v", spec, routes)
	}
}

var pathParam = regexp.MustCompile(`\{[a-z]+\}`)

// CHECKS 63: org A's admin gets 404 for every org B route, and for guessed
// IDs, on every backend.
func TestAdminTenantIsolation(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	_ = yaml.Unmarshal(adminapi.OpenAPI, &doc)
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, _, globex := adminEnv(t, backend)
			ada := e.TokenOf(apptest.UserEmail) // owner of acme, not a member of globex
			carol := e.User("carol@globex.example")
			for p, ops := range doc.Paths {
				if !strings.HasPrefix(p, "/orgs/{org}") {
					continue
				}
				for m := range ops {
					if m == "parameters" {
						continue
					}
					for _, orgID := range []string{globex.ID, "0123456789abcdef0123456789abcdef"} {
						path := strings.Replace(p, "{org}", orgID, 1)
						path = strings.Replace(path, "{user}", carol.ID, 1)
						path = pathParam.ReplaceAllString(path, "globex.example")
						status, body := e.API(strings.ToUpper(m), path, ada, map[string]string{})
						if status != http.StatusNotFound {
							t.Errorf("%s %s with another tenant's token: %d %v", strings.ToUpper(m), path, status, body)
						}
					}
				}
			}
			// And nothing changed in globex.
			if ms, _ := e.App.Store.MembersOf(context.Background(), globex.ID); len(ms) != 1 || ms[0].Role != "owner" {
				t.Fatalf("globex members changed: %+v", ms)
			}
		})
	}
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "memory")
	ctx := context.Background()
	ada, bob := e.TokenOf(apptest.UserEmail), e.TokenOf("bob@example.com")
	bobUser := e.User("bob@example.com")
	org := "/orgs/" + acme.ID

	if status, _ := e.API("GET", "/me", "", nil); status != 401 {
		t.Fatalf("no token: %d", status)
	}
	if status, _ := e.API("GET", "/me", "garbage", nil); status != 401 {
		t.Fatalf("garbage token: %d", status)
	}
	_, cc := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"market:view"}}, "svc", apptest.SvcSecret)
	if status, _ := e.API("GET", "/me", apptest.DecodeToken(t, cc).AccessToken, nil); status != 401 {
		t.Fatalf("client token: %d", status)
	}
	if status, me := e.API("GET", "/me", ada, nil); status != 200 || me["email"] != apptest.UserEmail {
		t.Fatalf("me: %d %v", status, me)
	}
	if status, body := e.API("GET", org, bob, nil); status != 200 || body["role"] != "member" {
		t.Fatalf("get org: %d %v", status, body)
	}
	if status, _ := e.API("PATCH", org, bob, map[string]string{"name": "Hijacked"}); status != 403 {
		t.Fatalf("member renames org: %d", status)
	}
	if status, body := e.API("PATCH", org, ada, map[string]any{"name": "Acme Energy Ltd", "mfa": "required"}); status != 200 ||
		body["org"].(map[string]any)["mfa"] != "required" {
		t.Fatalf("owner patches org: %d %v", status, body)
	}
	if status, body := e.API("GET", org+"/members", bob, nil); status != 200 || len(body["members"].([]any)) != 2 {
		t.Fatalf("members: %d %v", status, body)
	}
	// Roles: nobody grants above their own; the last owner stays.
	if status, _ := e.API("PATCH", org+"/members/"+bobUser.ID, bob, map[string]string{"role": "owner"}); status != 403 {
		t.Fatalf("member promotes self: %d", status)
	}
	if status, _ := e.API("PATCH", org+"/members/"+e.User(apptest.UserEmail).ID, ada, map[string]string{"role": "admin"}); status != 409 {
		t.Fatalf("last owner demoted: %d", status)
	}
	if status, _ := e.API("PATCH", org+"/members/"+bobUser.ID, ada, map[string]string{"role": "admin"}); status != 200 {
		t.Fatalf("owner makes bob admin: %d", status)
	}
	// Adding a member invites them: the same answer for an existing
	// account and an unknown address, and nobody joins without accepting.
	stExisting, existing := e.API("POST", org+"/members", ada, map[string]string{"email": "carol@globex.example", "role": "viewer"})
	stUnknown, unknown := e.API("POST", org+"/members", ada, map[string]string{"email": "nobody@nowhere.example", "role": "viewer"})
	if stExisting != 201 || stUnknown != 201 || existing["status"] != unknown["status"] || len(existing) != len(unknown) {
		t.Fatalf("adding members tells who has an account: %d %v / %d %v", stExisting, existing, stUnknown, unknown)
	}
	if _, members := e.API("GET", org+"/members", ada, nil); len(members["members"].([]any)) != 2 {
		t.Fatalf("an existing account joined without accepting: %v", members)
	}
	// Domains: claim, publish the TXT record, verify.
	status, d := e.API("POST", org+"/domains", ada, map[string]string{"domain": "Acme.Example"})
	if status != 201 || d["verified"] != false {
		t.Fatalf("claim domain: %d %v", status, d)
	}
	rec := d["record"].(map[string]any)
	if status, _ := e.API("POST", org+"/domains/acme.example/verify", ada, nil); status != 422 {
		t.Fatalf("verify without the record: %d", status)
	}
	e.DNS.Publish(rec["name"].(string), rec["value"].(string))
	if status, d := e.API("POST", org+"/domains/acme.example/verify", ada, nil); status != 200 || d["verified"] != true {
		t.Fatalf("verify: %d %v", status, d)
	}
	if o, err := e.App.Store.OrganizationByVerifiedDomain(ctx, "acme.example"); err != nil || o.ID != acme.ID {
		t.Fatalf("domain not verified in the store: %v", err)
	}
	if status, _ := e.API("POST", org+"/domains", ada, map[string]string{"domain": "not a domain"}); status != 400 {
		t.Fatalf("bad domain: %d", status)
	}
	// Audit: the organization's events, paged; members without audit:read get 403.
	if status, _ := e.API("GET", org+"/audit", bob, nil); status != 200 {
		// bob is admin now, and admins may read the audit log
		t.Fatalf("admin audit: %d", status)
	}
	status, page := e.API("GET", org+"/audit?limit=2", ada, nil)
	evs, _ := page["events"].([]any)
	if status != 200 || len(evs) != 2 || page["next_before"] == nil {
		t.Fatalf("audit page: %d %v", status, page)
	}
	status, page2 := e.API("GET", org+"/audit?limit=100&before="+url.QueryEscape(page["next_before"].(string)), ada, nil)
	if status != 200 || len(page2["events"].([]any)) < 5 {
		t.Fatalf("audit next page: %d %d events", status, len(page2["events"].([]any)))
	}
	for _, ev := range append(evs, page2["events"].([]any)...) {
		if ev.(map[string]any)["org_id"] != acme.ID {
			t.Fatalf("foreign event in the org's audit: %v", ev)
		}
	}
	if status, _ := e.API("PATCH", org, ada, "not an object"); status != 400 {
		t.Fatalf("bad body: %d", status)
	}
	if status, _ := e.API("DELETE", org+"/members/"+bobUser.ID, ada, nil); status != 204 {
		t.Fatalf("remove member: %d", status)
	}
	// A revoked token stops working.
	if r, _ := e.PostToken("/revoke", url.Values{"token": {ada}, "token_type_hint": {"access_token"}}, "web", apptest.WebSecret); r.StatusCode != 200 {
		t.Fatal("revoke")
	}
	if status, _ := e.API("GET", "/me", ada, nil); status != 401 {
		t.Fatalf("revoked token: %d", status)
	}
}
