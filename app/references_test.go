package app_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

var referenceRE = regexp.MustCompile(`Reference: <code>([^<]+)</code>`)

// Every error page shows a reference, and support finds that reference in
// the log with why the page was shown, including what was received (the
// unregistered redirect_uri, the unknown client_id).
func TestErrorReferencesAreLoggedWithTheirCause(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	started := e.Browser()
	resp, _ := started.Get(e.AuthURL(nil))
	loginURL := resp.Header.Get("Location")
	if !strings.HasPrefix(loginURL, "/login?id=") {
		t.Fatalf("authorize did not lead to the login page: %d %s", resp.StatusCode, loginURL)
	}
	cases := []struct {
		name string
		do   func() (*http.Response, string)
		want []string // in the logged line, besides the reference
	}{
		{"unknown client", func() (*http.Response, string) {
			return e.Browser().Get(e.AuthURL(map[string]string{"client_id": "no-such-client"}))
		}, []string{"reason=\"unknown client\"", "client_id=no-such-client"}},
		{"unregistered redirect_uri", func() (*http.Response, string) {
			return e.Browser().Get(e.AuthURL(map[string]string{"redirect_uri": "https://rp.example/not-registered"}))
		}, []string{"redirect_uri not registered", "redirect_uri=https://rp.example/not-registered", "client_id=web"}},
		{"repeated parameter", func() (*http.Response, string) {
			return e.Browser().Get(e.AuthURL(nil) + "&client_id=web2")
		}, []string{"repeated"}},
		{"another browser", func() (*http.Response, string) {
			return e.Browser().Get(loginURL)
		}, []string{"another browser", "client_id=web"}},
		{"unknown sign-in", func() (*http.Response, string) {
			return e.Browser().Get("/login?id=bogus")
		}, []string{"unknown or expired auth request"}},
		{"missing CSRF token", func() (*http.Response, string) {
			_, page := started.Get(loginURL)
			form := apptest.Hidden(page)
			form.Del("csrf")
			form.Set("email", apptest.UserEmail)
			form.Set("password", apptest.UserPassword)
			return started.Post("/login", form)
		}, []string{"CSRF"}},
		{"cross-site form", func() (*http.Response, string) {
			req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/login", strings.NewReader(url.Values{"id": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			return started.Do(req)
		}, []string{"cross-site form post", "origin=https://evil.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := tc.do()
			if resp.StatusCode < 400 {
				t.Fatalf("no error page: %d", resp.StatusCode)
			}
			m := referenceRE.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("the error page shows no reference: %.500s", page)
			}
			lines := apptest.LogLines(m[1])
			found := false
			for _, l := range lines {
				if !strings.Contains(l, `msg="error page"`) {
					continue
				}
				found = true
				for _, w := range tc.want {
					if !strings.Contains(l, w) {
						t.Errorf("the logged cause lacks %q: %s", w, l)
					}
				}
			}
			if !found {
				t.Fatalf("reference %s is not in the log with its cause; its lines: %q", m[1], lines)
			}
			// And the access log has the request too.
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, `msg=request`) && strings.Contains(l, "status=") }) {
				t.Errorf("no access-log line for reference %s", m[1])
			}
		})
	}
}

// The access log has one line per request with its route template,
// status, duration and client, and never the code or a token.
func TestAccessLogNamesTheClientAndNoSecrets(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	code, verifier := e.CodeFor(e.Browser(), nil)
	resp, body := e.Exchange(code, verifier)
	tok := apptest.DecodeToken(t, body)
	id := resp.Header.Get("X-Request-Id")
	lines := apptest.LogLines(id)
	var access string
	for _, l := range lines {
		if strings.Contains(l, "msg=request") {
			access = l
		}
	}
	for _, want := range []string{"method=POST", "route=/oauth/token", "status=200", "duration_ms=", "client_id=web"} {
		if !strings.Contains(access, want) {
			t.Errorf("access log %q lacks %s", access, want)
		}
	}
	for _, l := range lines {
		for _, secret := range []string{code, verifier, tok.AccessToken, tok.RefreshToken, apptest.WebSecret} {
			if secret != "" && strings.Contains(l, secret) {
				t.Fatalf("a secret is in the log: %s", l)
			}
		}
	}
}
