package login_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// An organization's branding is on the sign-in screens of its own
// applications and of sign-ins that name it, and nowhere else; its colours
// come from a same-origin stylesheet.
func TestOrganizationBrandingOnSignIn(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.Tenants, func(c *app.Config) {})
	ctx := context.Background()
	acme, globex := e.Org("acme"), e.Org("globex")
	b := storage.Branding{DisplayName: "Acme Trading Desk", Color: "#0a5c36", SupportURL: "https://help.acme.example",
		Logo: "data:image/png;base64,iVBORw0KGgo="}
	if err := e.App.Store.SetBranding(ctx, acme.ID, b, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// A sign-in that only names an organization wears its look once the
	// organization has proved a domain; globex, branded too, has none.
	if err := e.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "acme.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := e.App.Store.SetBranding(ctx, globex.ID, storage.Branding{DisplayName: "Globex Helpdesk", SupportURL: "https://evil.example"}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// A client of acme's own.
	if _, err := e.App.Store.UpsertClient(ctx, storage.Client{ID: "acme-app", Name: "Acme App", OrgID: acme.ID, RedirectURIs: []string{apptest.RPCallback},
		GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	_, ch := apptest.PKCE()
	pkce := map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range pkce {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	branded := func(page string) bool {
		return strings.Contains(page, "Acme Trading Desk") && strings.Contains(page, `href="/branding/`+acme.ID+`.css"`) &&
			strings.Contains(page, `src="data:image/png;base64,iVBORw0KGgo="`) && strings.Contains(page, `href="https://help.acme.example"`)
	}
	for name, params := range map[string]map[string]string{
		"acme's client": with(map[string]string{"client_id": "acme-app", "redirect_uri": apptest.RPCallback, "scope": "openid"}),
		"organization=": with(map[string]string{"organization": "acme", "scope": "openid org"}),
	} {
		resp, page := e.Browser().Authorize(e.AuthURL(params))
		if resp.StatusCode != 200 || !branded(page) {
			t.Fatalf("%s: not branded: %d %.2500s", name, resp.StatusCode, page)
		}
	}
	for name, params := range map[string]map[string]string{
		"platform client": with(nil),
		"globex":          with(map[string]string{"organization": "globex", "scope": "openid org"}),
	} {
		if _, page := e.Browser().Authorize(e.AuthURL(params)); strings.Contains(page, "Acme Trading Desk") || strings.Contains(page, "/branding/") ||
			strings.Contains(page, "Globex Helpdesk") {
			t.Fatalf("%s shows an organization's branding", name)
		}
	}
	_ = globex
	resp, css := e.Browser().Get("/branding/" + acme.ID + ".css")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, "--brand: #0a5c36") {
		t.Fatalf("stylesheet: %d %q", resp.StatusCode, css)
	}
	if resp, _ := e.Browser().Get("/branding/" + globex.ID + ".css"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("stylesheet of an unbranded org: %d", resp.StatusCode)
	}
	if resp, _ := e.Browser().Get("/branding/nope.css"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("stylesheet of no org: %d", resp.StatusCode)
	}
}
