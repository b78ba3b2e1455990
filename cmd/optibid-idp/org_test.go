package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/optibid/idp/storage"
)

// Organization claims: chosen at login (requested, only, or picked),
// carried in ID token, access token, userinfo and introspection, and
// recomputed at refresh.
func TestOrgClaims(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			ctx := context.Background()
			scope := map[string]string{"scope": "openid email org offline_access"}
			code, v := e.codeFor(e.browser(), scope)
			_, body := e.exchange(code, v)
			tok := decode(t, body)
			org, _ := claimsOf(t, tok.IDToken)["org"].(map[string]any)
			perms, _ := claimsOf(t, tok.AccessToken)["permissions"].([]any)
			if org["slug"] != "acme" || org["role"] != "owner" || len(perms) < 25 {
				t.Fatalf("id token org %v, access token %d permissions", org, len(perms))
			}
			// The ID token keeps its 4 KB budget: the role, not the list.
			if claimsOf(t, tok.IDToken)["permissions"] != nil {
				t.Fatal("permissions in the ID token")
			}
			if at := claimsOf(t, tok.AccessToken); at["org"] == nil || at["permissions"] == nil {
				t.Fatalf("access token lacks org claims: %v", at)
			}
			if !strings.Contains(userinfoBody(t, e, tok.AccessToken), `"slug":"acme"`) {
				t.Fatal("userinfo lacks org")
			}
			if _, intro := e.postToken("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "web", webSecret); !strings.Contains(intro, `"role":"owner"`) {
				t.Fatalf("introspection lacks org: %s", intro)
			}
			// A role change reaches the next refresh.
			ada := mustUser(t, e, userEmail)
			acme, _ := e.app.Store.OrganizationBySlug(ctx, "acme")
			if err := e.app.Store.UpsertMembership(ctx, storage.Membership{UserID: ada.ID, OrgID: acme.ID, Role: "viewer"}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			_, body = e.postToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", webSecret)
			refreshed := decode(t, body)
			if org := claimsOf(t, refreshed.IDToken)["org"].(map[string]any); org["role"] != "viewer" {
				t.Fatalf("refreshed role %v", org)
			}
			if p := claimsOf(t, refreshed.AccessToken)["permissions"].([]any); strings.Contains(join(anyStrings(p)), "bids:submit") {
				t.Fatal("viewer got bids:submit after refresh")
			}
			// No org scope: no org claims.
			code, v = e.codeFor(e.browser(), nil)
			_, body = e.exchange(code, v)
			if claimsOf(t, decode(t, body).IDToken)["org"] != nil {
				t.Fatal("org claims without the org scope")
			}

			// Two organizations: the picker, unless the client names one.
			globex, _ := e.app.Store.UpsertOrganization(ctx, storage.Organization{Slug: "globex", Name: "Globex Energy"}, storage.AuditEvent{})
			if err := e.app.Store.UpsertMembership(ctx, storage.Membership{UserID: ada.ID, OrgID: globex.ID, Role: "member"}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			b := e.browser()
			verifier, ch := pkce()
			_, page := b.authorize(e.authURL(map[string]string{"scope": "openid org", "code_challenge": ch, "code_challenge_method": "S256"}))
			_, page = b.follow(b.submitLogin(page, userEmail, userPassword))
			if !strings.Contains(page, "Choose an organization") || !strings.Contains(page, "Globex Energy") {
				t.Fatalf("no picker: %.300s", page)
			}
			var f url.Values
			for _, m := range formRE.FindAllStringSubmatch(page, -1) {
				if fv := hidden(m[2]); fv.Get("org") == globex.ID {
					f = fv
				}
			}
			resp, body := b.follow(b.post("/login/org", f))
			tok = e.tokensFrom(b.clientRedirect(resp, body), verifier)
			if org := claimsOf(t, tok.IDToken)["org"].(map[string]any); org["slug"] != "globex" || org["role"] != "member" {
				t.Fatalf("picked org %v", org)
			}
			// The organization parameter skips the picker.
			u := e.browser().login(e.authURL(map[string]string{"scope": "openid org", "organization": "acme", "code_challenge": ch, "code_challenge_method": "S256"}), userEmail, userPassword)
			if u.Query().Get("code") == "" {
				t.Fatalf("organization parameter: %s", u)
			}
			// A requested organization the user is not a member of.
			if _, err := e.app.Store.UpsertOrganization(ctx, storage.Organization{Slug: "initech", Name: "Initech"}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			u = e.browser().login(e.authURL(map[string]string{"scope": "openid org:initech", "code_challenge": ch, "code_challenge_method": "S256"}), userEmail, userPassword)
			if u.Query().Get("error") != "access_denied" {
				t.Fatalf("foreign org: %s", u)
			}
		})
	}
}

func userinfoBody(t *testing.T, e *env, at string) string {
	req, _ := httpNewRequest("GET", e.issuer+"/userinfo", at)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = ioCopy(b, resp.Body)
	return b.String()
}

func anyStrings(a []any) []string {
	var out []string
	for _, v := range a {
		out = append(out, v.(string))
	}
	return out
}

func join(s []string) string { return strings.Join(s, " ") }
