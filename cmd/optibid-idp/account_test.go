package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The account page: profile, sessions, password change, re-authentication
// and the user's own security events (CHECKS 50, 57).
func TestAccountPage(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			b := e.browser()
			page := b.accountSignIn(userEmail, userPassword)
			other := e.browser()
			other.accountSignIn(userEmail, userPassword)
			bob := e.browser()
			bob.accountSignIn("bob@example.com", userPassword)

			_, page = b.get("/account")
			if strings.Count(page, `action="/account/sessions/end"`) != 1 || !strings.Contains(page, "this browser") {
				t.Fatalf("sessions list: %.500s", page)
			}
			if !strings.Contains(page, "login_succeeded") || strings.Contains(page, "bob@example.com") {
				t.Fatal("events must be the user's own")
			}
			resp, page := b.fill(page, "/account/profile", map[string]string{"name": "Countess Lovelace"})
			if resp.StatusCode != 200 || !strings.Contains(page, `value="Countess Lovelace"`) {
				t.Fatalf("profile: %d", resp.StatusCode)
			}
			// End the other session.
			resp, page = b.fill(page, "/account/sessions/end", nil)
			if resp.StatusCode != 200 || !strings.Contains(page, "signed out") {
				t.Fatalf("end session: %d", resp.StatusCode)
			}
			if resp, _ := other.get("/account"); resp.Header.Get("Location") != "/account/signin" {
				t.Fatal("ended session still works")
			}
			// Password change needs the current password; it ends every other
			// session and refresh token, and keeps this browser signed in.
			code, v := e.codeFor(e.browser(), nil)
			_, body := e.exchange(code, v)
			rt := decode(t, body).RefreshToken
			resp, page = b.fill(page, "/account/password", map[string]string{"current": "not my password", "new": newPassword})
			if resp.StatusCode != 401 {
				t.Fatalf("password change without the current one: %d", resp.StatusCode)
			}
			resp, page = b.fill(page, "/account/password", map[string]string{"current": userPassword, "new": newPassword})
			if resp.StatusCode != 200 || !strings.Contains(page, "Password changed") {
				t.Fatalf("password change: %d", resp.StatusCode)
			}
			if r, _ := e.postToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", webSecret); r.StatusCode != 400 {
				t.Fatal("refresh token survived a password change")
			}
			if resp, _ := b.get("/account"); resp.StatusCode != 200 {
				t.Fatal("this browser was signed out by its own password change")
			}
			// Factor changes need a recent sign-in.
			e.clock.offset = 20 * time.Minute
			if resp, _ := b.get("/account/totp"); resp.Header.Get("Location") != "/account/signin?fresh=1" {
				t.Fatalf("stale session enrolled a factor: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp, _ := e.browser().get("/account"); resp.Header.Get("Location") != "/account/signin" {
				t.Fatal("account page without a session")
			}
		})
	}
}
