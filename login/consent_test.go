package login_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// A client that is not the operator's own never gets a user's grant
// silently: consent before its first grant of a scope set, again when it
// asks for more, and prompt=none answers consent_required meanwhile.
func TestConsentForThirdPartyClients(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, apptest.APIs)
			b := e.Browser()
			authz := func(scope, prompt string) string {
				return e.AuthURL(map[string]string{"client_id": "partner", "redirect_uri": apptest.PartnerCallback, "scope": scope, "prompt": prompt,
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

// Consent is remembered per user, client and scope set, listed on the
// account page under connected applications, and disconnecting there
// makes the next sign-in ask again.
func TestRememberedConsentAndDisconnect(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.APIs)
	b := e.Browser()
	auth := func() string {
		_, ch := apptest.PKCE()
		return e.AuthURL(map[string]string{"client_id": "partner", "redirect_uri": apptest.PartnerCallback, "scope": "openid email",
			"code_challenge": ch, "code_challenge_method": "S256"})
	}
	_, page := b.Authorize(auth())
	resp, page := b.Follow(b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword))
	if !strings.Contains(page, "Allow access?") {
		t.Fatalf("first sign-in: no consent page: %d %.500s", resp.StatusCode, page)
	}
	resp, page = b.Follow(b.Fill(page, "/consent", map[string]string{"decision": "allow"}))
	if u := b.ClientRedirect(resp, page); u.Query().Get("code") == "" {
		t.Fatalf("after consent: %s", u)
	}
	// The second sign-in is not asked again.
	resp, page = b.Follow(b.Get(auth()))
	if u := b.ClientRedirect(resp, page); u.Query().Get("code") == "" {
		t.Fatalf("second sign-in asked again: %d %.300s", resp.StatusCode, page)
	}
	_, acct := b.Get("/account")
	if resp, body := b.Fill(acct, "/account/export", nil); resp.StatusCode != 200 || !strings.Contains(body, `"client_id": "partner"`) {
		t.Fatalf("the export lacks the connected application: %d %.2000s", resp.StatusCode, body)
	}
	_, acct = b.Get("/account")
	if !strings.Contains(acct, "Connected applications") || !strings.Contains(acct, "Partner App") || !strings.Contains(acct, "See your email address") {
		t.Fatalf("account page: %.3000s", acct)
	}
	resp, acct = b.Fill(acct, "/account/apps/disconnect", nil)
	if resp.StatusCode != 200 || !strings.Contains(acct, "Disconnected.") || strings.Contains(acct, `value="partner"`) {
		t.Fatalf("disconnect: %d %.500s", resp.StatusCode, acct)
	}
	resp, page = b.Follow(b.Get(auth()))
	if !strings.Contains(page, "Allow access?") {
		t.Fatalf("after disconnecting, no consent page: %d %.300s", resp.StatusCode, page)
	}
	if resp, _ := b.Post("/account/apps/disconnect", url.Values{"csrf": {apptest.Hidden(acct).Get("csrf")}, "client": {"partner"}}); resp.StatusCode != 404 {
		t.Fatalf("disconnecting twice: %d", resp.StatusCode)
	}
}
