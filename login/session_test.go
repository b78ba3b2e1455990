package login_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/storage"
)

// Cookie attributes; on https every cookie is __Host-, Secure (CHECKS 55).
func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	httpx.Cookies{Secure: true}.Set(rec, "optibid_session", "v", 60)
	c := rec.Result().Cookies()[0]
	if c.Name != "__Host-optibid_session" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Domain != "" || c.Path != "/" {
		t.Fatalf("https cookie: %+v", c)
	}
	e := apptest.New(t, "memory")
	b := e.Browser()
	_, page := b.Authorize(e.AuthURL(nil))
	resp, _ := b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "optibid_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Domain != "" || len(session.Value) < 43 {
		t.Fatalf("session cookie: %+v", session)
	}
}

// The session ID changes at login and the old one is dead; logout, idle
// and absolute timeouts and disabling end sessions (CHECKS 56–57).
func TestSessionsRotateAtLoginAndExpire(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, func(c *app.Config) {
				c.Sessions.IdleTimeout = 30 * time.Minute
				c.Sessions.AbsoluteTimeout = 2 * time.Hour
			})
			silent := func(b *apptest.Browser) string {
				_, ch := apptest.PKCE()
				resp, body := b.Follow(b.Get(e.AuthURL(map[string]string{"prompt": "none", "code_challenge": ch, "code_challenge_method": "S256"})))
				u := b.ClientRedirect(resp, body)
				if u.Query().Get("code") != "" {
					return "ok"
				}
				return u.Query().Get("error")
			}
			cookieOf := func(b *apptest.Browser) string {
				u, _ := url.Parse(e.Issuer)
				for _, c := range b.Client().Jar.Cookies(u) {
					if c.Name == "optibid_session" {
						return c.Value
					}
				}
				return ""
			}
			withCookie := func(v string) *apptest.Browser {
				nb := e.Browser()
				// the browser binding cookie is set by /authorize; the session cookie is planted
				u, _ := url.Parse(e.Issuer)
				nb.Client().Jar.SetCookies(u, []*http.Cookie{{Name: "optibid_session", Value: v, Path: "/"}})
				return nb
			}
			b := e.Browser()
			b.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			first := cookieOf(b)
			if silent(b) != "ok" {
				t.Fatal("SSO session not reused")
			}
			b.Login(e.AuthURL(map[string]string{"prompt": "login"}), apptest.UserEmail, apptest.UserPassword)
			second := cookieOf(b)
			if second == first || silent(withCookie(first)) != "login_required" || silent(withCookie(second)) != "ok" {
				t.Fatal("56: session ID not rotated at login, or the old one still works")
			}
			// Fixation: a value planted before login is not adopted.
			planted := withCookie("planted-session-value-aaaaaaaaaaaaaaaaaaaaaaa")
			planted.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			if cookieOf(planted) == "planted-session-value-aaaaaaaaaaaaaaaaaaaaaaa" {
				t.Fatal("56: planted session ID kept")
			}
			// Idle timeout.
			e.Clock.Offset = 31 * time.Minute
			if silent(b) != "login_required" {
				t.Fatal("57: idle timeout not enforced")
			}
			// Absolute timeout, even when used all along.
			e.Clock.Offset = 0
			b2 := e.Browser()
			b2.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			for step := time.Duration(1); step <= 5; step++ {
				e.Clock.Offset = step * 25 * time.Minute
				got := silent(b2)
				if want := map[bool]string{true: "ok", false: "login_required"}[step*25*time.Minute < 2*time.Hour]; got != want {
					t.Fatalf("57: at %v: %s, want %s", e.Clock.Offset, got, want)
				}
			}
			// Disabling the user ends the session.
			e.Clock.Offset = 0
			b3 := e.Browser()
			b3.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
			user := e.User(apptest.UserEmail)
			if err := e.App.Store.SetDisabled(context.Background(), user.ID, true, time.Now(), storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			if silent(b3) != "login_required" {
				t.Fatal("57: disabled user's session still works")
			}
		})
	}
}

// Logout redirects only to registered URIs and needs a hint or a
// confirmation (CHECKS 58).
func TestLogoutReturnsOnlyToRegisteredURIs(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	b.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
	resp, body := b.Get("/end_session?client_id=web&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"))
	apptest.WantErrorPage(t, resp, body)
	resp, body = b.Get("/end_session?post_logout_redirect_uri=" + url.QueryEscape("https://rp.example/bye"))
	apptest.WantErrorPage(t, resp, body)
	resp, page := b.Get("/end_session?client_id=web&post_logout_redirect_uri=" + url.QueryEscape("https://rp.example/bye") + "&state=z")
	if resp.StatusCode != 200 || !strings.Contains(page, "Sign out?") {
		t.Fatalf("no confirmation without id_token_hint: %d", resp.StatusCode)
	}
	f := apptest.Hidden(page)
	f.Set("decision", "logout")
	resp, _ = b.Post("/end_session", f)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://rp.example/bye?state=z" {
		t.Fatalf("confirmed logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, page := b.Authorize(e.AuthURL(nil)); resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatal("old session still signed in after logout")
	}
}

// Forms without the CSRF token, or from another origin → 403 (CHECKS 59).
func TestFormsRefuseMissingCSRFAndForeignOrigins(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	_, page := b.Authorize(e.AuthURL(nil))
	f := apptest.Hidden(page)
	f.Set("email", apptest.UserEmail)
	f.Set("password", apptest.UserPassword)
	noToken := url.Values{"id": {f.Get("id")}, "email": {apptest.UserEmail}, "password": {apptest.UserPassword}}
	if resp, _ := b.Post("/login", noToken); resp.StatusCode != 403 {
		t.Fatalf("no CSRF token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, _ := b.Do(req); resp.StatusCode != 403 {
		t.Fatalf("foreign Origin: %d", resp.StatusCode)
	}
	for _, hdr := range []map[string]string{{"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
		{"Origin": "null", "Sec-Fetch-Site": "cross-site"}} {
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/login", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if resp, _ := b.Do(req); resp.StatusCode != 403 {
			t.Fatalf("%v: %d", hdr, resp.StatusCode)
		}
	}
	other := e.Browser() // another browser's token is worthless here
	_, otherPage := other.Authorize(e.AuthURL(nil))
	f.Set("csrf", apptest.Hidden(otherPage).Get("csrf"))
	if resp, _ := b.Post("/login", f); resp.StatusCode != 403 {
		t.Fatalf("token of another browser: %d", resp.StatusCode)
	}
}

// An auth request is served only to the browser that started it; its
// callback cannot be taken early (CHECKS 60, local part; 54).
func TestBrowserBinding(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	victim := e.Browser()
	resp, _ := victim.Get(e.AuthURL(nil))
	loginURL := resp.Header.Get("Location")
	id := strings.TrimPrefix(loginURL, "/login?id=")
	attacker := e.Browser()
	if resp, body := attacker.Get(loginURL); resp.StatusCode != 403 {
		t.Fatalf("login page in another browser: %d %.100s", resp.StatusCode, body)
	}
	if resp, _ := attacker.Get("/authorize/callback?id=" + id); resp.StatusCode != 403 {
		t.Fatalf("callback polled from another browser: %d", resp.StatusCode)
	}
	// The victim's own callback before login sends them back to log in.
	if resp, _ := victim.Get("/authorize/callback?id=" + id); resp.Header.Get("Location") != loginURL {
		t.Fatalf("callback before login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Consent cannot be skipped by jumping to the callback.
	_, page := victim.Authorize(e.AuthURL(map[string]string{"client_id": "consent", "scope": "openid"}))
	resp, _ = victim.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/consent?id=") {
		t.Fatalf("consent client: %s", resp.Header.Get("Location"))
	}
	cid := strings.TrimPrefix(resp.Header.Get("Location"), "/consent?id=")
	resp, _ = victim.Get("/authorize/callback?id=" + cid)
	if strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatal("code issued before consent")
	}
	_, consentPage := victim.Get("/consent?id=" + cid)
	f := apptest.Hidden(consentPage)
	f.Set("decision", "deny")
	resp, _ = victim.Post("/consent", f)
	if u, _ := url.Parse(resp.Header.Get("Location")); u.Query().Get("error") != "access_denied" {
		t.Fatalf("deny: %s", resp.Header.Get("Location"))
	}
}
