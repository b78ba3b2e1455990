package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Organization claims: chosen at login (requested, only, or picked),
// carried in ID token, access token, userinfo and introspection, and
// recomputed at refresh.
func TestOrgClaims(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			scope := map[string]string{"scope": "openid email org offline_access"}
			code, v := e.CodeFor(e.Browser(), scope)
			_, body := e.Exchange(code, v)
			tok := apptest.DecodeToken(t, body)
			org, _ := apptest.Claims(t, tok.IDToken)["org"].(map[string]any)
			perms, _ := apptest.Claims(t, tok.AccessToken)["permissions"].([]any)
			if org["slug"] != "acme" || org["role"] != "owner" || len(perms) < 25 {
				t.Fatalf("id token org %v, access token %d permissions", org, len(perms))
			}
			// The ID token keeps its 4 KB budget: the role, not the list.
			if apptest.Claims(t, tok.IDToken)["permissions"] != nil {
				t.Fatal("permissions in the ID token")
			}
			if at := apptest.Claims(t, tok.AccessToken); at["org"] == nil || at["permissions"] == nil {
				t.Fatalf("access token lacks org claims: %v", at)
			}
			if !strings.Contains(userinfoBody(t, e, tok.AccessToken), `"slug":"acme"`) {
				t.Fatal("userinfo lacks org")
			}
			if _, intro := e.PostToken("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "web", apptest.WebSecret); !strings.Contains(intro, `"role":"owner"`) {
				t.Fatalf("introspection lacks org: %s", intro)
			}
			// A role change reaches the next refresh.
			ada := e.User(apptest.UserEmail)
			acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme")
			if err := e.App.Store.UpsertMembership(ctx, storage.Membership{UserID: ada.ID, OrgID: acme.ID, Role: "viewer"}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			_, body = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
			refreshed := apptest.DecodeToken(t, body)
			if org := apptest.Claims(t, refreshed.IDToken)["org"].(map[string]any); org["role"] != "viewer" {
				t.Fatalf("refreshed role %v", org)
			}
			if p := apptest.Claims(t, refreshed.AccessToken)["permissions"].([]any); strings.Contains(join(anyStrings(p)), "bids:submit") {
				t.Fatal("viewer got bids:submit after refresh")
			}
			// No org scope: no org claims.
			code, v = e.CodeFor(e.Browser(), nil)
			_, body = e.Exchange(code, v)
			if apptest.Claims(t, apptest.DecodeToken(t, body).IDToken)["org"] != nil {
				t.Fatal("org claims without the org scope")
			}

			// Two organizations: the picker, unless the client names one.
			globex, _ := e.App.Store.UpsertOrganization(ctx, storage.Organization{Slug: "globex", Name: "Globex Energy"}, storage.AuditEvent{})
			if err := e.App.Store.UpsertMembership(ctx, storage.Membership{UserID: ada.ID, OrgID: globex.ID, Role: "member"}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			b := e.Browser()
			verifier, ch := apptest.PKCE()
			_, page := b.Authorize(e.AuthURL(map[string]string{"scope": "openid org", "code_challenge": ch, "code_challenge_method": "S256"}))
			_, page = b.Follow(b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword))
			if !strings.Contains(page, "Choose an organization") || !strings.Contains(page, "Globex Energy") {
				t.Fatalf("no picker: %.300s", page)
			}
			var f url.Values
			for _, form := range apptest.Forms(page) {
				if form.Fields.Get("org") == globex.ID {
					f = form.Fields
				}
			}
			resp, body := b.Follow(b.Post("/login/org", f))
			tok = e.TokensFrom(b.ClientRedirect(resp, body), verifier)
			if org := apptest.Claims(t, tok.IDToken)["org"].(map[string]any); org["slug"] != "globex" || org["role"] != "member" {
				t.Fatalf("picked org %v", org)
			}
			// The organization parameter skips the picker.
			u := e.Browser().Login(e.AuthURL(map[string]string{"scope": "openid org", "organization": "acme", "code_challenge": ch, "code_challenge_method": "S256"}), apptest.UserEmail, apptest.UserPassword)
			if u.Query().Get("code") == "" {
				t.Fatalf("organization parameter: %s", u)
			}
			// A requested organization the user is not a member of.
			if _, err := e.App.Store.UpsertOrganization(ctx, storage.Organization{Slug: "initech", Name: "Initech"}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			u = e.Browser().Login(e.AuthURL(map[string]string{"scope": "openid org:initech", "code_challenge": ch, "code_challenge_method": "S256"}), apptest.UserEmail, apptest.UserPassword)
			if u.Query().Get("error") != "access_denied" {
				t.Fatalf("foreign org: %s", u)
			}
		})
	}
}

func userinfoBody(t *testing.T, e *apptest.Env, at string) string {
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func anyStrings(a []any) []string {
	var out []string
	for _, v := range a {
		out = append(out, v.(string))
	}
	return out
}

func join(s []string) string { return strings.Join(s, " ") }
