package login_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// amrOf reads an ID token's amr.
func amrOf(t *testing.T, claims map[string]any) []string {
	t.Helper()
	var amr []string
	for _, m := range claims["amr"].([]any) {
		amr = append(amr, m.(string))
	}
	return amr
}

// enrollPasskeyInSignIn runs the sign-in's "Add a passkey" page (page is
// that page) with a, then uses the new passkey, and returns the redirect
// to the client.
func enrollPasskeyInSignIn(t *testing.T, e *apptest.Env, b *apptest.Browser, page string, a *authenticator, userID string) *url.URL {
	t.Helper()
	if !strings.Contains(page, "Add a passkey") || !strings.Contains(page, "requires a passkey") {
		t.Fatalf("not the passkey enrollment page: %.1500s", page)
	}
	h := apptest.Hidden(page)
	form := url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}}
	id, opts := ceremony(t, b, "/login/passkey/enroll/options", form)
	resp, body := b.Post("/login/passkey/enroll", url.Values{"id": form["id"], "csrf": form["csrf"], "ceremony": {id},
		"credential": {a.register(opts)}, "name": {"Desk key"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login/passkey/mfa?id="+h.Get("id") {
		t.Fatalf("after adding the passkey: %d %q %.500s", resp.StatusCode, loc, body)
	}
	_, page = b.Get(resp.Header.Get("Location"))
	if !strings.Contains(page, "Use your passkey") || strings.Contains(page, "Use another way") {
		t.Fatalf("passkey step: %.1500s", page)
	}
	id, opts = ceremony(t, b, "/login/passkey/mfa/options", form)
	return b.ClientRedirect(b.Follow(b.Post("/login/passkey/mfa", url.Values{"id": form["id"], "csrf": form["csrf"], "ceremony": {id},
		"credential": {a.assert(opts, userID)}})))
}

// An organization that requires a passkey: a member's sign-in ends only
// with a passkey and two factors (acr phr). A member without a passkey
// adds one during the sign-in after proving themselves as before; codes
// no longer finish a sign-in of a member who has a passkey; a session
// from before the policy adds nothing; acr_values asks for the same.
func TestOrganizationRequiresPasskey(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := passkeyEnv(t, backend)
			ada, bob := e.User(apptest.UserEmail), e.User("bob@example.com")
			token := e.TokenOf(apptest.UserEmail)
			secret, _ := enrollTOTP(e, e.Browser())
			pkce := func() (string, map[string]string) {
				v, ch := apptest.PKCE()
				return v, map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}
			}
			totpCode := func() string {
				c, _ := totp.GenerateCode(secret, e.Clock.Now())
				return c
			}
			// Ada's browser signed in with password and TOTP before the policy.
			e.Clock.Offset += 31e9 // past the step enrollment used
			before := e.Browser()
			mfaPage, _ := toMFA(e, before, nil)
			if u := before.ClientRedirect(before.Follow(before.Fill(mfaPage, "/login/mfa", map[string]string{"method": "totp", "code": totpCode()}))); u.Query().Get("code") == "" {
				t.Fatalf("sign-in before the policy: %s", u)
			}
			e.Clock.Offset += 31e9 // the next TOTP step

			if status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "fido"}); status != http.StatusBadRequest ||
				!strings.Contains(fmt.Sprint(body), "passkey") {
				t.Fatalf("unknown policy: %d %v", status, body)
			}
			if status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "passkey"}); status != http.StatusOK || body["org"].(map[string]any)["mfa"] != "passkey" {
				t.Fatalf("passkey policy: %d %v", status, body)
			}

			t.Run("a session from before the policy adds no passkey", func(t *testing.T) {
				_, p := pkce()
				resp, page := before.Authorize(e.AuthURL(p))
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
					t.Fatalf("old session: %d %.500s", resp.StatusCode, page)
				}
				if resp, _ := before.Get("/login/passkey/enroll?id=" + apptest.Hidden(page).Get("id")); !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
					t.Fatalf("enrollment with a session only: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				p["prompt"] = "none"
				if u := before.ClientRedirect(before.Follow(before.Get(e.AuthURL(p)))); u.Query().Get("error") != "interaction_required" {
					t.Fatalf("prompt=none: %s", u)
				}
			})

			t.Run("a stolen cookie of a fresh sign-in adds no passkey", func(t *testing.T) {
				// Bob's colleague has a two-factor session (the policy is
				// off for it: acr_values asks for the passkey instead).
				if status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "required"}); status != http.StatusOK {
					t.Fatalf("back to required: %d %v", status, body)
				}
				defer e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "passkey"})
				// The thief starts a request asking for a passkey, then the
				// victim signs in, then the thief uses the victim's cookie.
				thief := e.Browser()
				_, p := pkce()
				p["acr_values"] = storage.ACRPhishingResistant
				_, tpage := thief.Authorize(e.AuthURL(p))
				x := apptest.Hidden(tpage).Get("id")
				victim := e.Browser()
				vpage, _ := toMFA(e, victim, nil)
				e.Clock.Offset += 31e9
				if u := victim.ClientRedirect(victim.Follow(victim.Fill(vpage, "/login/mfa", map[string]string{"method": "totp", "code": totpCode()}))); u.Query().Get("code") == "" {
					t.Fatalf("victim: %s", u)
				}
				issuer, _ := url.Parse(e.Issuer)
				for _, ck := range victim.Client().Jar.Cookies(issuer) {
					if strings.HasSuffix(ck.Name, "optibid_session") { // the session cookie only: the thief keeps their own browser
						thief.Client().Jar.SetCookies(issuer, []*http.Cookie{ck})
					}
				}
				// The policy does not ask for a passkey, so the cookie may add
				// one on the account page (the mailbox is told) ...
				planted := newAuthenticator(t, e)
				addPasskey(t, thief, planted, "Thief")
				defer func() { _ = e.App.Store.DeletePasskey(t.Context(), ada.ID, planted.id, storage.AuditEvent{}) }()
				// ... but the session and that passkey make no passkey sign-in.
				resp, page := thief.Get("/login?id=" + x)
				if strings.Contains(resp.Request.URL.Path, "enroll") || !strings.Contains(page, `name="password"`) {
					t.Fatalf("stolen cookie: %d %s %.300s", resp.StatusCode, resp.Request.URL, page)
				}
				e.Clock.Offset += 31e9
			})

			t.Run("where a passkey is required, a session without one adds none", func(t *testing.T) {
				_, page := before.Get("/account/passkeys")
				resp, body := before.Post("/account/passkeys/options", url.Values{"csrf": {apptest.Hidden(page).Get("csrf")}})
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "reauthenticate") {
					t.Fatalf("passkey options for a session without one: %d %.300s", resp.StatusCode, body)
				}
				resp, _ = before.Post("/account/passkeys", url.Values{"csrf": {apptest.Hidden(page).Get("csrf")}, "ceremony": {"x"}, "credential": {"{}"}})
				if resp.Header.Get("Location") != "/account/signin?fresh=1" {
					t.Fatalf("passkey add for a session without one: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			})

			t.Run("a password change keeps the sign-in's time", func(t *testing.T) {
				if status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "optional"}); status != http.StatusOK {
					t.Fatalf("optional: %d %v", status, body)
				}
				defer e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "passkey"})
				b := e.Browser()
				b.AccountSignIn("bob@example.com", apptest.UserPassword)
				authTime := func() any {
					verifier, p := pkce()
					p["prompt"] = "none"
					return apptest.Claims(t, e.TokensFrom(b.ClientRedirect(b.Follow(b.Get(e.AuthURL(p)))), verifier).IDToken)["auth_time"]
				}
				before := authTime()
				e.Clock.Offset += 120e9
				_, page := b.Get("/account")
				resp, page := b.Fill(page, "/account/password", map[string]string{"current": apptest.UserPassword, "new": "another correct horse battery"})
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Password changed") {
					t.Fatalf("password change: %d %.500s", resp.StatusCode, page)
				}
				if after := authTime(); after != before {
					t.Fatalf("auth_time %v after a password change, was %v", after, before)
				}
				_, page = b.Get("/account")
				if resp, _ := b.Fill(page, "/account/password", map[string]string{"current": "another correct horse battery", "new": apptest.UserPassword}); resp.StatusCode != http.StatusOK {
					t.Fatalf("password back: %d", resp.StatusCode)
				}
			})

			t.Run("no factor: adds a passkey with the password, then uses it", func(t *testing.T) {
				b := e.Browser()
				verifier, p := pkce()
				_, page := b.Authorize(e.AuthURL(p))
				_, page = b.Follow(b.SubmitLogin(page, "bob@example.com", apptest.UserPassword))
				id := apptest.Hidden(page).Get("id")
				// The emailed code and a first authenticator are no way round.
				csrf := apptest.Hidden(page).Get("csrf")
				for _, f := range []url.Values{
					{"id": {id}, "csrf": {csrf}, "method": {"otp"}, "channel": {"email"}, "challenge": {"x"}, "code": {"123456"}},
					{"id": {id}, "csrf": {csrf}, "method": {"backup"}, "code": {"AAAA-BBBB-CCCC-DDDD"}},
				} {
					if resp, _ := b.Post("/login/mfa", f); resp.Header.Get("Location") != "/login/passkey/enroll?id="+id {
						t.Fatalf("code instead of a passkey: %d %q", resp.StatusCode, resp.Header.Get("Location"))
					}
				}
				if resp, _ := b.Post("/login/mfa/send", url.Values{"id": {id}, "csrf": {csrf}, "channel": {"email"}}); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("code sent: %d", resp.StatusCode)
				}
				// Nor is an authenticator app: it would not finish the sign-in.
				if resp, _ := b.Get("/login/mfa/enroll?id=" + id); resp.Header.Get("Location") != "/login/passkey/enroll?id="+id {
					t.Fatalf("authenticator enrollment under a passkey policy: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				key := newAuthenticator(t, e)
				u := enrollPasskeyInSignIn(t, e, b, page, key, bob.ID)
				claims := apptest.Claims(t, e.TokensFrom(u, verifier).IDToken)
				if amr := amrOf(t, claims); claims["acr"] != storage.ACRPhishingResistant || !slices.Contains(amr, "hwk") || !slices.Contains(amr, "mfa") {
					t.Fatalf("acr %v amr %v", claims["acr"], amr)
				}
				if mail := e.MailTo("bob@example.com", ""); !strings.Contains(mail, "Desk key") {
					t.Fatalf("no passkey mail: %.500s", mail)
				}
			})

			t.Run("a factor but no passkey: the factor first, then a passkey", func(t *testing.T) {
				b := e.Browser()
				verifier, p := pkce()
				page, _ := toMFA(e, b, p)
				if !strings.Contains(page, "requires a passkey") {
					t.Fatalf("MFA page: %.1500s", page)
				}
				h := apptest.Hidden(page)
				// The password alone adds no passkey for someone with a factor.
				if resp, _ := b.Get("/login/passkey/enroll?id=" + h.Get("id")); resp.Header.Get("Location") != "/login/mfa?id="+h.Get("id") {
					t.Fatalf("enrollment before the factor: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				if resp, body := b.Post("/login/passkey/enroll/options", url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}}); resp.StatusCode == http.StatusOK && strings.Contains(body, "publicKey") {
					t.Fatal("registration options before the factor")
				}
				resp, page := b.Follow(b.Fill(page, "/login/mfa", map[string]string{"method": "totp", "code": totpCode()}))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("after TOTP: %d %.500s", resp.StatusCode, page)
				}
				// Two factors without the passkey make no session yet.
				if resp, _ := b.Get("/account"); resp.StatusCode == http.StatusOK {
					t.Fatal("a session before the passkey step")
				}
				u := enrollPasskeyInSignIn(t, e, b, page, newAuthenticator(t, e), ada.ID)
				claims := apptest.Claims(t, e.TokensFrom(u, verifier).IDToken)
				if amr := amrOf(t, claims); claims["acr"] != storage.ACRPhishingResistant || !slices.Equal(amr, []string{"pwd", "otp", "hwk", "mfa"}) {
					t.Fatalf("acr %v amr %v", claims["acr"], amr)
				}
				e.Clock.Offset += 31e9
			})

			t.Run("with a passkey, a code does not finish the sign-in", func(t *testing.T) {
				b := e.Browser()
				_, p := pkce()
				_, page := b.Authorize(e.AuthURL(p))
				resp, _ := b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
				id := apptest.Hidden(page).Get("id")
				if loc := resp.Header.Get("Location"); loc != "/login/passkey/mfa?id="+id {
					t.Fatalf("after the password: %q", loc)
				}
				csrf := apptest.Hidden(page).Get("csrf")
				if resp, _ := b.Post("/login/mfa", url.Values{"id": {id}, "csrf": {csrf}, "method": {"totp"}, "code": {totpCode()}}); resp.Header.Get("Location") != "/login/passkey/mfa?id="+id {
					t.Fatalf("TOTP under a passkey policy: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				// Nor does the old session: it counts for nothing towards a
				// passkey sign-in, so the password comes first again.
				resp, page = before.Follow(before.Get(e.AuthURL(p)))
				if !strings.Contains(page, `name="password"`) {
					t.Fatalf("old session with a passkey: %s", resp.Request.URL)
				}
			})

			t.Run("acr_values asks for a passkey", func(t *testing.T) {
				if status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "required"}); status != http.StatusOK {
					t.Fatalf("back to required: %d %v", status, body)
				}
				resp, body := e.Browser().Get("/.well-known/openid-configuration")
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, storage.ACRPhishingResistant) {
					t.Fatalf("discovery: %.500s", body)
				}
				// Without it, TOTP is enough again.
				b := e.Browser()
				verifier, p := pkce()
				_, page := b.Authorize(e.AuthURL(p))
				if resp, _ := b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("password: %d", resp.StatusCode)
				}
				id := apptest.Hidden(page).Get("id")
				csrf := apptest.Hidden(page).Get("csrf")
				u := b.ClientRedirect(b.Follow(b.Post("/login/mfa", url.Values{"id": {id}, "csrf": {csrf}, "method": {"totp"}, "code": {totpCode()}})))
				if c := apptest.Claims(t, e.TokensFrom(u, verifier).IDToken); c["acr"] != storage.ACRMFA {
					t.Fatalf("acr without a passkey: %v", c["acr"])
				}
				e.Clock.Offset += 31e9
				// With it, TOTP is not.
				b = e.Browser()
				_, p = pkce()
				p["acr_values"] = storage.ACRPhishingResistant
				_, page = b.Authorize(e.AuthURL(p))
				id, csrf = apptest.Hidden(page).Get("id"), apptest.Hidden(page).Get("csrf")
				if resp, _ := b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword); resp.Header.Get("Location") != "/login/passkey/mfa?id="+id {
					t.Fatalf("password when acr_values asks for a passkey: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				if resp, _ := b.Post("/login/mfa", url.Values{"id": {id}, "csrf": {csrf}, "method": {"totp"}, "code": {totpCode()}}); resp.Header.Get("Location") != "/login/passkey/mfa?id="+id {
					t.Fatalf("TOTP when acr_values asks for a passkey: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			})
		})
	}
}
