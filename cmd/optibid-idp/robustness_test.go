package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// leak reports internal detail that must never reach a client.
func leak(body string) bool {
	for _, s := range []string{"goroutine ", "panic", ".go:", "runtime error", "pgx", "sql:", "storage:", "\tat "} {
		if strings.Contains(body, s) {
			return true
		}
	}
	return false
}

// CHECKS 66: hostile input gets a 4xx with a clear error, never a 5xx,
// a panic or internal text.
func TestCheck66HostileInput(t *testing.T) {
	e := newEnv(t, "memory")
	big := strings.Repeat("a", 10<<20)
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	cases := []struct {
		name, method, path, ctype, body string
		basic                           bool
	}{
		{"huge token body", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=" + big, true},
		{"huge login body", "POST", "/login", "application/x-www-form-urlencoded", "email=" + big, false},
		{"huge authorize body", "POST", "/authorize", "application/x-www-form-urlencoded", "client_id=" + big, false},
		{"json to token", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials"}`, true},
		{"deep json to token", "POST", "/oauth/token", "application/json", deep, true},
		{"bad utf8", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=%ff%fe&code=%c3%28", true},
		{"nul", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=a%00b&redirect_uri=x%00", true},
		{"crlf in grant", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=%0d%0aSet-Cookie:%20x%09", true},
		{"bad percent", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=%zz", true},
		{"garbage introspect", "POST", "/oauth/introspect", "application/x-www-form-urlencoded", "token=%00%01garbage", true},
		{"introspect unauthenticated", "POST", "/oauth/introspect", "application/x-www-form-urlencoded", "token=x", false},
		{"garbage revoke", "POST", "/revoke", "application/x-www-form-urlencoded", "token=" + strings.Repeat("x", 5000), true},
		{"revoke unauthenticated", "POST", "/revoke", "application/x-www-form-urlencoded", "token=x", false},
		{"garbage userinfo", "GET", "/userinfo?access_token=%00", "", "", false},
		{"authorize garbage", "GET", "/authorize?client_id=%ff&redirect_uri=%00&max_age=-5&prompt=%0a", "", "", false},
		{"authorize bad max_age", "GET", "/authorize?client_id=web&redirect_uri=" + url.QueryEscape(rpCallback) + "&response_type=code&scope=openid&max_age=abc", "", "", false},
		{"callback unknown", "GET", "/authorize/callback?id=%00", "", "", false},
		{"login unknown id", "GET", "/login?id=" + strings.Repeat("z", 3000), "", "", false},
		{"consent no id", "GET", "/consent", "", "", false},
		{"logout garbage hint", "GET", "/end_session?id_token_hint=a.b.c&post_logout_redirect_uri=javascript:alert(1)", "", "", false},
		{"unknown path", "GET", "/../../etc/passwd", "", "", false},
		{"wrong method", "DELETE", "/oauth/token", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.issuer+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.basic {
				req.SetBasicAuth("web", webSecret)
			}
			// Never follow a redirect: tests stay on loopback.
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 || (resp.StatusCode < 400 && resp.StatusCode != 200 && !isRedirect(resp.StatusCode)) {
				t.Fatalf("status %d: %.300s", resp.StatusCode, body)
			}
			if leak(string(body)) {
				t.Fatalf("internal detail leaked: %.300s", body)
			}
			if strings.Contains(resp.Header.Get("Location"), "javascript:") {
				t.Fatal("redirected to javascript:")
			}
			if strings.Contains(tc.path, "oauth") || tc.path == "/revoke" {
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && resp.StatusCode != 200 {
					t.Fatalf("non-JSON OAuth error: %s", resp.Header.Get("Content-Type"))
				}
				var e oauthErr
				if resp.StatusCode >= 400 && (decodeJSON(body, &e) != nil || e.Error == "" || strings.ContainsAny(e.Description, "\r\n\t")) {
					t.Fatalf("bad OAuth error body: %s", body)
				}
			}
		})
	}
	t.Run("16KB header", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.issuer+"/.well-known/openid-configuration", nil)
		req.Header.Set("X-Big", strings.Repeat("h", 16<<10))
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

type oauthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// CHECKS 36/F1: a storage outage turns into 503 + Retry-After on the
// database-bound endpoints, never 200 or 500, while discovery and JWKS stay
// up.
func TestStorageOutage(t *testing.T) {
	e := newEnv(t, "postgres")
	code, v := e.codeFor(e.browser(), nil)
	_, body := e.exchange(code, v)
	tok := decode(t, body)
	e.app.Store.Close() // the database is gone
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/revoke", url.Values{"token": {tok.RefreshToken}}},
		{"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}},
	} {
		resp, body := e.postToken(tc.path, tc.form, "web", webSecret)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || leak(body) {
			t.Errorf("%s during outage: %d %q %s", tc.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if code := e.userinfo(tok.AccessToken).StatusCode; code != http.StatusServiceUnavailable {
		t.Errorf("userinfo without the database: %d, want 503", code)
	}
	if resp, body := e.postToken("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "web", webSecret); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("introspection without the database: %d %s, want 503", resp.StatusCode, body)
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/keys", "/healthz"} {
		if resp, _ := e.browser().get(p); resp.StatusCode != 200 {
			t.Errorf("%s during outage: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := e.browser().get("/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz during outage: %d", resp.StatusCode)
	}
	b := e.browser()
	resp, page := b.get(e.authURL(nil))
	if resp.StatusCode != 302 && resp.StatusCode != 503 || leak(page) {
		t.Errorf("authorize during outage: %d", resp.StatusCode)
	}
}

// Replicas share nothing but the store: authorize and log in on one,
// take the callback and redeem the code on the other.
func TestTwoReplicas(t *testing.T) {
	dsnEnv := newEnv(t, "postgres")
	srvB := httptestUnstarted()
	cfgB := *dsnEnv.cfg // same issuer, keys, CSRF key and database
	replicaB := startOn(t, srvB, &cfgB)
	toB := func(u string) string { return strings.Replace(u, dsnEnv.issuer, replicaB.srv.URL, 1) }

	b := dsnEnv.browser()
	verifier, challenge := pkce()
	resp, _ := b.get(dsnEnv.authURL(map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}))
	loginURL := resp.Header.Get("Location")
	resp, page := b.get(toB(replicaB.issuer + loginURL)) // login page from B
	if resp.StatusCode != 200 {
		t.Fatalf("login page on replica B: %d", resp.StatusCode)
	}
	f := hidden(page)
	f.Set("email", userEmail)
	f.Set("password", userPassword)
	resp, _ = b.post("/login", f) // form posted to A
	cb := resp.Header.Get("Location")
	resp, _ = b.get(toB(cb)) // callback on B
	u := b.clientRedirect(resp, "")
	code := u.Query().Get("code")
	if code == "" || u.Query().Get("iss") != dsnEnv.issuer {
		t.Fatalf("no code from replica B: %s", u)
	}
	resp, body := replicaB.exchange(code, verifier) // token on B
	if resp.StatusCode != 200 {
		t.Fatalf("token on replica B: %d %s", resp.StatusCode, body)
	}
	tok := decode(t, body)
	if dsnEnv.userinfo(tok.AccessToken).StatusCode != 200 {
		t.Fatal("replica A refused replica B's token")
	}
	resp, body = dsnEnv.postToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", webSecret)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh on replica A: %d %s", resp.StatusCode, body)
	}
}

// Operations endpoints and graceful draining.
func TestOperations(t *testing.T) {
	e := newEnv(t, "memory")
	b := e.browser()
	for p, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		if resp, _ := b.get(p); resp.StatusCode != want {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	e.codeFor(b, nil)
	e.attempt(e.browser(), userEmail, "wrong password!")
	_, metrics := b.get("/metrics")
	for _, series := range []string{`optibid_http_requests_total{method="GET",route="/authorize",status="302"}`,
		`optibid_http_request_duration_seconds_bucket`, `optibid_logins_total{result="success"}`, `optibid_logins_total{result="bad_password"}`} {
		if !strings.Contains(metrics, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
	resp, _ := b.get("/healthz")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no request ID")
	}
	e.app.Drain()
	if resp, _ := b.get("/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz while draining: %d", resp.StatusCode)
	}
}

// serve exits cleanly on SIGTERM-equivalent cancellation; run() rejects
// bad commands with one line.
func TestCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "optibid-idp ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run([]string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run([]string{"migrate", "up", "--config", "../../configs/dev.yaml"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("migrate on memory: %v", err)
	}
}

// cliConfig writes a config file pointing the CLI at e's PostgreSQL store.
func cliConfig(t *testing.T, e *env) string {
	path := filepath.Join(t.TempDir(), "c.yaml")
	err := os.WriteFile(path, []byte(`issuer: `+e.issuer+`
storage: {type: postgres, postgres: {dsn: "`+e.cfg.Storage.Postgres.DSN+`"}}
keys: {encryption_key: "`+e.cfg.Keys.EncryptionKey+`"}
sessions: {csrf_key: "`+e.cfg.Sessions.CSRFKey+`"}
dev_mode: true
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// The admin CLI works against PostgreSQL: org, user, client, key rotation.
func TestAdminCLI(t *testing.T) {
	e := newEnv(t, "postgres")
	cfgPath := cliConfig(t, e)
	t.Setenv("NEW_PW", "a long enough password")
	var out bytes.Buffer
	for _, args := range [][]string{
		{"org", "create", "--slug", "globex", "--name", "Globex", "--mfa", "required"},
		{"user", "create", "--email", "carol@example.com", "--name", "Carol", "--org", "globex", "--role", "admin", "--password-env", "NEW_PW"},
		{"client", "create", "--id", "cli-made", "--name", "Made by CLI", "--redirect-uri", "https://made.example/cb"},
		{"user", "platform-admin", "--email", "carol@example.com"},
		{"keys", "rotate", "--alg", "ES256"},
	} {
		out.Reset()
		if err := run(append([]string{"admin", "--config", cfgPath}, args...), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if !strings.Contains(out.String(), "ES256:") {
		t.Fatalf("keys rotate output: %s", out.String())
	}
	ctx := context.Background()
	if u, err := e.app.Store.UserByEmail(ctx, "carol@example.com"); err != nil || !u.PlatformAdmin {
		t.Fatalf("carol: %+v %v", u, err)
	}
	if c, err := e.app.Store.ClientByID(ctx, "cli-made"); err != nil || c.SecretHash == "" {
		t.Fatalf("client: %+v %v", c, err)
	}
	// The running replica picks the rotation up on reload.
	before := e.app.Keys.SigningKey("ES256").ID()
	if err := e.app.Keys.Reload(ctx); err != nil || e.app.Keys.SigningKey("ES256").ID() == before {
		t.Fatalf("rotation not visible to the running replica: %v", err)
	}
	if err := run([]string{"admin", "--config", cfgPath, "client", "create", "--id", "bad", "--redirect-uri", "JaVaScRiPt:x"}, &out, io.Discard); err == nil {
		t.Fatal("javascript: redirect accepted by the CLI")
	}
	_ = time.Second
	_ = sync.Mutex{}
}

// NUL bytes and invalid UTF-8 in ordinary fields answer 400 at the edge
// on both stores, never a 503 from the database.
func TestNULAndInvalidUTF8AreRefusedAtTheEdge(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			b := e.browser()
			_, page := b.authorize(e.authURL(nil))
			id := hidden(page).Get("id")
			for _, path := range []string{"/login?id=%00", "/login?id=" + id + "%00", "/authorize?client_id=web%00&response_type=code",
				"/authorize?client_id=%ff%fe", "/verify-email?token=%00", "/reset?token=%c3%28"} {
				if resp, body := b.get(path); resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("GET %s: %d %.100s", path, resp.StatusCode, body)
				}
			}
			for name, form := range map[string]url.Values{
				"email":     {"id": {id}, "csrf": {hidden(page).Get("csrf")}, "email": {"a\x00b@example.com"}, "password": {"x"}},
				"bad UTF-8": {"id": {id}, "csrf": {hidden(page).Get("csrf")}, "email": {"\xff@example.com"}, "password": {"x"}},
			} {
				if resp, _ := b.post("/login", form); resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("POST /login with %s: %d", name, resp.StatusCode)
				}
			}
			for _, body := range []string{"grant_type=client_credentials&client_id=svc%00", "grant_type=authorization_code&code=%00&state=%ff"} {
				if resp, _ := e.postToken("/oauth/token", mustParse(body), "", ""); resp.StatusCode != 400 {
					t.Errorf("token with %q: %d", body, resp.StatusCode)
				}
			}
			tok := e.tokenOf(userEmail)
			for _, raw := range []string{`{"name":"a\u0000b"}`, "{\"name\":\"\xff\"}"} {
				req, _ := http.NewRequest("PATCH", e.issuer+"/api/v1/orgs/x", strings.NewReader(raw))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					t.Errorf("management API with %q: %d", raw, resp.StatusCode)
				}
			}
		})
	}
}

func mustParse(s string) url.Values { v, _ := url.ParseQuery(s); return v }
