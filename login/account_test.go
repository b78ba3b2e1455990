package login_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
)

// The account page: profile, sessions, password change, re-authentication
// and the user's own security events (CHECKS 50, 57).
func TestAccountPage(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			b := e.Browser()
			b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			other := e.Browser()
			other.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			bob := e.Browser()
			bob.AccountSignIn("bob@example.com", apptest.UserPassword)

			_, page := b.Get("/account")
			if strings.Count(page, `action="/account/sessions/end"`) != 1 || !strings.Contains(page, "this browser") {
				t.Fatalf("sessions list: %.500s", page)
			}
			if !strings.Contains(page, "<td>Signed in</td>") || strings.Contains(page, "login_succeeded") || strings.Contains(page, "bob@example.com") {
				t.Fatal("events must be the user's own")
			}
			resp, page := b.Fill(page, "/account/profile", map[string]string{"name": "Countess Lovelace"})
			if resp.StatusCode != 200 || !strings.Contains(page, `value="Countess Lovelace"`) {
				t.Fatalf("profile: %d", resp.StatusCode)
			}
			// End the other session.
			resp, page = b.Fill(page, "/account/sessions/end", nil)
			if resp.StatusCode != 200 || !strings.Contains(page, "signed out") {
				t.Fatalf("end session: %d", resp.StatusCode)
			}
			if resp, _ := other.Get("/account"); resp.Header.Get("Location") != "/account/signin" {
				t.Fatal("ended session still works")
			}
			// Password change needs the current password; it ends every other
			// session and refresh token, and keeps this browser signed in.
			code, v := e.CodeFor(e.Browser(), nil)
			_, body := e.Exchange(code, v)
			rt := apptest.DecodeToken(t, body).RefreshToken
			resp, page = b.Fill(page, "/account/password", map[string]string{"current": "not my password", "new": apptest.NewPassword})
			if resp.StatusCode != 401 {
				t.Fatalf("password change without the current one: %d", resp.StatusCode)
			}
			resp, page = b.Fill(page, "/account/password", map[string]string{"current": apptest.UserPassword, "new": apptest.NewPassword})
			if resp.StatusCode != 200 || !strings.Contains(page, "Password changed") {
				t.Fatalf("password change: %d", resp.StatusCode)
			}
			if r, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", apptest.WebSecret); r.StatusCode != 400 {
				t.Fatal("refresh token survived a password change")
			}
			if resp, _ := b.Get("/account"); resp.StatusCode != 200 {
				t.Fatal("this browser was signed out by its own password change")
			}
			// Factor changes need a recent sign-in.
			e.Clock.Offset = 20 * time.Minute
			if resp, _ := b.Get("/account/totp"); resp.Header.Get("Location") != "/account/signin?fresh=1" {
				t.Fatalf("stale session enrolled a factor: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp, _ := e.Browser().Get("/account"); resp.Header.Get("Location") != "/account/signin" {
				t.Fatal("account page without a session")
			}
		})
	}
}
