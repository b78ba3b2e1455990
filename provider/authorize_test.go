package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
)

// Only exact, registered redirect URIs; anything else is an error page
// and no Location (CHECKS 1–3, 5).
func TestAuthorizeRefusesUnregisteredRedirect(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	bad := []string{
		apptest.RPCallback + "x", apptest.RPCallback + "/", "https://rp.example/CB", "HTTPS://RP.EXAMPLE/cb", "https://RP.example/cb",
		apptest.RPCallback + "?a=1", apptest.RPCallback + "#f", "https://rp.example/..;/cb", "https://rp.example/cb/../cb",
		"https://rp.example@evil.example/cb", "https://rp.example.evil.example/cb", "https://rp.example:8443/cb",
		"https://evil.example/cb", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x",
		"http://rp.example/cb", "https://rp.example/cb%2F", "https://rp.example/%63b", " " + apptest.RPCallback, apptest.RPCallback + "\t",
	}
	for _, uri := range bad {
		t.Run(uri, func(t *testing.T) {
			resp, body := b.Get(e.AuthURL(map[string]string{"redirect_uri": uri}))
			apptest.WantErrorPage(t, resp, body)
		})
	}
	t.Run("missing with two registered", func(t *testing.T) {
		resp, body := b.Get(e.AuthURL(map[string]string{"redirect_uri": ""}))
		apptest.WantErrorPage(t, resp, body)
	})
	t.Run("unknown client", func(t *testing.T) {
		resp, body := b.Get(e.AuthURL(map[string]string{"client_id": "nobody"}))
		apptest.WantErrorPage(t, resp, body)
	})
	t.Run("registered second URI works", func(t *testing.T) {
		resp, _ := b.Get(e.AuthURL(map[string]string{"redirect_uri": "https://rp.example/cb2"}))
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// Loopback redirect URIs of native clients match on any port, but not with
// added path/query or user-info tricks (CHECKS 4).
func TestAuthorizeLoopbackRedirectsMatchAnyPort(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	_, challenge := apptest.PKCE()
	try := func(uri string) *http.Response {
		resp, _ := b.Get(e.AuthURL(map[string]string{"client_id": "native", "redirect_uri": uri,
			"code_challenge": challenge, "code_challenge_method": "S256"}))
		return resp
	}
	for _, ok := range []string{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", "http://127.0.0.1:8/cb"} {
		if resp := try(ok); !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
			t.Errorf("%s: rejected (%d)", ok, resp.StatusCode)
		}
	}
	for _, bad := range []string{"http://127.0.0.1:5000/cb?x=1", "http://127.0.0.1:5000/cb/x", "http://localhost@evil.example/cb",
		"http://127.0.0.1.evil.example/cb", "https://evil.example/cb"} {
		if resp := try(bad); resp.Header.Get("Location") != "" {
			t.Errorf("%s: accepted, redirected to %s", bad, resp.Header.Get("Location"))
		}
	}
}

// clientError asserts a redirect to the client with error, state and iss.
func clientError(t *testing.T, e *apptest.Env, resp *http.Response, wantErr string) {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("want 302 to client, got %d", resp.StatusCode)
	}
	u, _ := url.Parse(resp.Header.Get("Location"))
	q := u.Query()
	if u.Host != "rp.example" || q.Get("error") != wantErr || q.Get("state") != "st-1" || q.Get("iss") != e.Issuer {
		t.Fatalf("want error=%s with state and iss, got %s", wantErr, u)
	}
	if strings.ContainsAny(q.Get("error_description"), "\r\n\t") {
		t.Fatal("control characters in error_description")
	}
}

// Errors after client and redirect URI are verified go back to the client
// with state and iss; only code is supported (CHECKS 6–11, 14).
func TestAuthorizeErrorsReturnToTheClientWithStateAndIss(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	cases := []struct {
		name   string
		params map[string]string
		err    string
	}{
		{"bad scope", map[string]string{"scope": "openid admin:everything"}, "invalid_scope"},
		{"no openid", map[string]string{"scope": "profile"}, "invalid_scope"},
		{"no response_type", map[string]string{"response_type": ""}, "invalid_request"},
		{"token", map[string]string{"response_type": "token"}, "unsupported_response_type"},
		{"id_token token", map[string]string{"response_type": "id_token token"}, "unsupported_response_type"},
		{"code id_token", map[string]string{"response_type": "code id_token"}, "unsupported_response_type"},
		{"form_post", map[string]string{"response_mode": "form_post"}, "invalid_request"},
		{"fragment", map[string]string{"response_mode": "fragment"}, "invalid_request"},
		{"prompt none+login", map[string]string{"prompt": "none login"}, "invalid_request"},
		{"request object", map[string]string{"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"},
		{"request_uri", map[string]string{"request_uri": "https://evil.example/r"}, "request_uri_not_supported"},
		{"bad id_token_hint", map[string]string{"id_token_hint": "not-a-jwt"}, "login_required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := b.Get(e.AuthURL(tc.params))
			clientError(t, e, resp, tc.err)
		})
	}
	t.Run("duplicated state", func(t *testing.T) {
		resp, _ := b.Get(e.AuthURL(nil) + "&state=again")
		if u, _ := url.Parse(resp.Header.Get("Location")); u == nil || u.Query().Get("error") != "invalid_request" {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	for _, dup := range []string{"&client_id=web2", "&redirect_uri=" + url.QueryEscape(apptest.RPCallback)} {
		resp, body := b.Get(e.AuthURL(nil) + dup)
		apptest.WantErrorPage(t, resp, body)
	}
	t.Run("metadata", func(t *testing.T) {
		_, body := b.Get("/.well-known/openid-configuration")
		for _, want := range []string{`"authorization_response_iss_parameter_supported":true`, `"code_challenge_methods_supported":["S256"]`,
			`"response_types_supported":["code"]`} {
			if !strings.Contains(body, want) {
				t.Errorf("discovery lacks %s", want)
			}
		}
	})
	t.Run("no CORS on authorize", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.AuthURL(nil), nil)
		req.Header.Set("Origin", "https://evil.example")
		resp, _ := b.Do(req)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("authorize sent Access-Control-Allow-Origin")
		}
	})
}

// Extra parameters, reordering and POST /authorize all work (CHECKS 9).
func TestAuthorizeAcceptsExtraParametersAndPost(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	u := e.AuthURL(map[string]string{"extra": "foobar"})
	if resp, _ := b.Get(u); !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
		t.Fatalf("extra param: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form, _ := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := b.Do(req); !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
		t.Fatalf("POST /authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// prompt, max_age and the hints (CHECKS 15–19).
func TestAuthorizePromptMaxAgeAndHints(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			b := e.Browser()
			_, ch := apptest.PKCE()
			p := func(extra map[string]string) map[string]string {
				m := map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			// 15: no session → login_required, no HTML.
			resp, body := b.Follow(b.Get(e.AuthURL(p(map[string]string{"prompt": "none"}))))
			if u := b.ClientRedirect(resp, body); u.Query().Get("error") != "login_required" || u.Query().Get("iss") != e.Issuer {
				t.Fatalf("prompt=none without session: %s", u)
			}
			first := b.Login(e.AuthURL(p(nil)), apptest.UserEmail, apptest.UserPassword)
			if first.Query().Get("code") == "" {
				t.Fatal("no code")
			}
			// 16: with session → silent code for the same user.
			resp, body = b.Follow(b.Get(e.AuthURL(p(map[string]string{"prompt": "none"}))))
			if u := b.ClientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("prompt=none with session: %s", u)
			}
			// 16: prompt=login → the form again.
			resp, page := b.Authorize(e.AuthURL(p(map[string]string{"prompt": "login"})))
			if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
				t.Fatalf("prompt=login did not show the form: %d", resp.StatusCode)
			}
			// 17: max_age=10000 → silent; max_age=1 after 2s → login.
			resp, body = b.Follow(b.Get(e.AuthURL(p(map[string]string{"max_age": "10000"}))))
			if u := b.ClientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("max_age=10000: %s", u)
			}
			e.Clock.Offset = 2 * time.Second
			resp, page = b.Authorize(e.AuthURL(p(map[string]string{"max_age": "1"})))
			if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
				t.Fatalf("max_age=1 after 2s did not ask to sign in: %d", resp.StatusCode)
			}
			// 19: display, login_hint, ui_locales, claims_locales, acr_values.
			resp, page = b.Authorize(e.AuthURL(p(map[string]string{"prompt": "login", "display": "page", "login_hint": "hint@example.com",
				"ui_locales": "de-CH en", "claims_locales": "en", "acr_values": "urn:mace:incommon:iap:silver"})))
			if resp.StatusCode != 200 || !strings.Contains(page, `value="hint@example.com"`) {
				t.Fatalf("hints: %d", resp.StatusCode)
			}
		})
	}
}

// PKCE: required of public clients, S256 only, verifiers checked, no
// downgrade (CHECKS 22–24).
func TestPKCEIsRequiredAndChecked(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	t.Run("public client without challenge", func(t *testing.T) {
		resp, _ := b.Get(e.AuthURL(map[string]string{"client_id": "native", "redirect_uri": "http://127.0.0.1/cb"}))
		u, _ := url.Parse(resp.Header.Get("Location"))
		if u.Query().Get("error") != "invalid_request" {
			t.Fatalf("got %s", u)
		}
	})
	for _, tc := range []struct{ name, challenge, method string }{
		{"plain", strings.Repeat("a", 43), "plain"}, {"no method", strings.Repeat("a", 43), ""},
		{"short challenge", "abc", "S256"}, {"method only", "", "S256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := b.Get(e.AuthURL(map[string]string{"code_challenge": tc.challenge, "code_challenge_method": tc.method}))
			clientError(t, e, resp, "invalid_request")
		})
	}
	verifierCases := []struct {
		name     string
		verifier func(good string) string
	}{
		{"wrong", func(string) string { return strings.Repeat("w", 64) }},
		{"missing", func(string) string { return "" }},
		{"42 chars", func(g string) string { return g[:42] }},
		{"129 chars", func(g string) string { return g + strings.Repeat("x", 129-len(g)) }},
	}
	for _, tc := range verifierCases {
		t.Run("verifier "+tc.name, func(t *testing.T) {
			code, good := e.CodeFor(e.Browser(), nil)
			resp, body := e.Exchange(code, tc.verifier(good))
			if resp.StatusCode != 400 || !(strings.Contains(body, "invalid_grant") || strings.Contains(body, "invalid_request")) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("verifier without challenge (downgrade)", func(t *testing.T) {
		u := e.Browser().Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword)
		resp, body := e.Exchange(u.Query().Get("code"), strings.Repeat("v", 64))
		if resp.StatusCode != 400 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// id_token_hint with prompt=none is silent for the signed-in user and
// login_required for another; the code flow works without nonce (CHECKS 18,
// 20).
func TestIDTokenHintNamesTheUserAndNonceIsOptional(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	idToken := func(b *apptest.Browser, email string, params map[string]string) string {
		verifier, ch := apptest.PKCE()
		p := map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}
		for k, v := range params {
			p[k] = v
		}
		u := b.Login(e.AuthURL(p), email, apptest.UserPassword)
		_, body := e.Exchange(u.Query().Get("code"), verifier)
		return apptest.DecodeToken(t, body).IDToken
	}
	ada := e.Browser()
	adaToken := idToken(ada, apptest.UserEmail, map[string]string{"nonce": ""}) // 20: no nonce
	if _, has := apptest.Claims(t, adaToken)["nonce"]; has {
		t.Fatal("nonce in an ID token of a request without one")
	}
	bobToken := idToken(e.Browser(), "bob@example.com", nil)
	_, ch := apptest.PKCE()
	silent := func(hint string) string {
		resp, body := ada.Follow(ada.Get(e.AuthURL(map[string]string{"prompt": "none", "id_token_hint": hint,
			"code_challenge": ch, "code_challenge_method": "S256"})))
		u := ada.ClientRedirect(resp, body)
		if u.Query().Get("code") != "" {
			return "code"
		}
		return u.Query().Get("error")
	}
	if got := silent(adaToken); got != "code" {
		t.Fatalf("own hint: %s", got)
	}
	if got := silent(bobToken); got != "login_required" {
		t.Fatalf("other user's hint: %s", got)
	}
}
