package login_test

import (
	"context"
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
