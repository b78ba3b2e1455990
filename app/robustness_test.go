package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

// Hostile input gets a 4xx with a clear error, never a 5xx, a panic or
// internal text (CHECKS 66).
func TestHostileInputGetsAClear4xx(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
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
		{"authorize bad max_age", "GET", "/authorize?client_id=web&redirect_uri=" + url.QueryEscape(apptest.RPCallback) + "&response_type=code&scope=openid&max_age=abc", "", "", false},
		{"callback unknown", "GET", "/authorize/callback?id=%00", "", "", false},
		{"login unknown id", "GET", "/login?id=" + strings.Repeat("z", 3000), "", "", false},
		{"consent no id", "GET", "/consent", "", "", false},
		{"logout garbage hint", "GET", "/end_session?id_token_hint=a.b.c&post_logout_redirect_uri=javascript:alert(1)", "", "", false},
		{"unknown path", "GET", "/../../etc/passwd", "", "", false},
		{"wrong method", "DELETE", "/oauth/token", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.Issuer+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.basic {
				req.SetBasicAuth("web", apptest.WebSecret)
			}
			// Never follow a redirect: tests stay on loopback.
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 || (resp.StatusCode < 400 && resp.StatusCode != 200 && !apptest.IsRedirect(resp.StatusCode)) {
				t.Fatalf("status %d: %.300s", resp.StatusCode, body)
			}
			if apptest.Leaks(string(body)) {
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
				if resp.StatusCode >= 400 && (json.Unmarshal(body, &e) != nil || e.Error == "" || strings.ContainsAny(e.Description, "\r\n\t")) {
					t.Fatalf("bad OAuth error body: %s", body)
				}
			}
		})
	}
	t.Run("16KB header", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.Issuer+"/.well-known/openid-configuration", nil)
		req.Header.Set("X-Big", strings.Repeat("h", 16<<10))
		resp, err := e.Srv.Client().Do(req)
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
	t.Parallel()
	e := apptest.New(t, "postgres")
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	tok := apptest.DecodeToken(t, body)
	e.App.Store.Close() // the database is gone
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/revoke", url.Values{"token": {tok.RefreshToken}}},
		{"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}},
	} {
		resp, body := e.PostToken(tc.path, tc.form, "web", apptest.WebSecret)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || apptest.Leaks(body) {
			t.Errorf("%s during outage: %d %q %s", tc.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if code := e.Userinfo(tok.AccessToken).StatusCode; code != http.StatusServiceUnavailable {
		t.Errorf("userinfo without the database: %d, want 503", code)
	}
	if resp, body := e.PostToken("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "web", apptest.WebSecret); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("introspection without the database: %d %s, want 503", resp.StatusCode, body)
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/keys", "/healthz"} {
		if resp, _ := e.Browser().Get(p); resp.StatusCode != 200 {
			t.Errorf("%s during outage: %d", p, resp.StatusCode)
		}
	}
	// Readiness is not the store's: a balancer that takes every replica
	// out for a shared outage would take discovery and JWKS down too. The
	// outage is in /healthz's detail and in optibid_store_up.
	if resp, _ := e.Browser().Get("/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz during a store outage: %d, want 200", resp.StatusCode)
	}
	if resp, body := e.Browser().Get("/healthz"); resp.StatusCode != 200 || !strings.Contains(body, `"store":"unavailable"`) {
		t.Errorf("healthz during a store outage: %d %s", resp.StatusCode, body)
	}
	if _, body := e.Browser().Get("/metrics"); !strings.Contains(body, "optibid_store_up 0") {
		t.Error("optibid_store_up does not show the outage")
	}
	b := e.Browser()
	resp, page := b.Get(e.AuthURL(nil))
	if resp.StatusCode != 302 && resp.StatusCode != 503 || apptest.Leaks(page) {
		t.Errorf("authorize during outage: %d", resp.StatusCode)
	}
	if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
		t.Error("the 503 page has no Retry-After")
	}
	// The sign-in page needs the store: a friendly 503 with Retry-After.
	resp, page = b.Get("/login?id=" + strings.Repeat("a", 32))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || apptest.Leaks(page) {
		t.Errorf("login page during outage: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// Replicas share nothing but the store: authorize and log in on one,
// take the callback and redeem the code on the other.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	dsnEnv := apptest.New(t, "postgres")
	srvB := httptest.NewUnstartedServer(nil)
	cfgB := *dsnEnv.Cfg // same issuer, keys, CSRF key and database
	replicaB := apptest.StartOn(t, srvB, &cfgB)
	toB := func(u string) string { return strings.Replace(u, dsnEnv.Issuer, replicaB.Srv.URL, 1) }

	b := dsnEnv.Browser()
	verifier, challenge := apptest.PKCE()
	resp, _ := b.Get(dsnEnv.AuthURL(map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}))
	loginURL := resp.Header.Get("Location")
	resp, page := b.Get(toB(replicaB.Issuer + loginURL)) // login page from B
	if resp.StatusCode != 200 {
		t.Fatalf("login page on replica B: %d", resp.StatusCode)
	}
	f := apptest.Hidden(page)
	f.Set("email", apptest.UserEmail)
	f.Set("password", apptest.UserPassword)
	resp, _ = b.Post("/login", f) // form posted to A
	cb := resp.Header.Get("Location")
	resp, _ = b.Get(toB(cb)) // callback on B
	u := b.ClientRedirect(resp, "")
	code := u.Query().Get("code")
	if code == "" || u.Query().Get("iss") != dsnEnv.Issuer {
		t.Fatalf("no code from replica B: %s", u)
	}
	resp, body := replicaB.Exchange(code, verifier) // token on B
	if resp.StatusCode != 200 {
		t.Fatalf("token on replica B: %d %s", resp.StatusCode, body)
	}
	tok := apptest.DecodeToken(t, body)
	if dsnEnv.Userinfo(tok.AccessToken).StatusCode != 200 {
		t.Fatal("replica A refused replica B's token")
	}
	resp, body = dsnEnv.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh on replica A: %d %s", resp.StatusCode, body)
	}
}

// Operations endpoints and graceful draining.
func TestOperations(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	for p, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		if resp, _ := b.Get(p); resp.StatusCode != want {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	e.CodeFor(b, nil)
	wrong := e.Browser()
	_, page := wrong.Authorize(e.AuthURL(nil))
	wrong.SubmitLogin(page, apptest.UserEmail, "wrong password!")
	_, metrics := b.Get("/metrics")
	for _, series := range []string{`optibid_http_requests_total{method="GET",route="/authorize",status="302"}`,
		`optibid_http_request_duration_seconds_bucket`, `optibid_logins_total{method="password",result="success"}`, `optibid_logins_total{method="password",result="bad_password"}`} {
		if !strings.Contains(metrics, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
	resp, _ := b.Get("/healthz")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no request ID")
	}
	e.App.Drain()
	if resp, _ := b.Get("/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz while draining: %d", resp.StatusCode)
	}
}

// NUL bytes and invalid UTF-8 in ordinary fields answer 400 at the edge
// on both stores, never a 503 from the database.
func TestNULAndInvalidUTF8AreRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			b := e.Browser()
			_, page := b.Authorize(e.AuthURL(nil))
			id := apptest.Hidden(page).Get("id")
			for _, path := range []string{"/login?id=%00", "/login?id=" + id + "%00", "/authorize?client_id=web%00&response_type=code",
				"/authorize?client_id=%ff%fe", "/verify-email?token=%00", "/reset?token=%c3%28"} {
				if resp, body := b.Get(path); resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("GET %s: %d %.100s", path, resp.StatusCode, body)
				}
			}
			for name, form := range map[string]url.Values{
				"email":     {"id": {id}, "csrf": {apptest.Hidden(page).Get("csrf")}, "email": {"a\x00b@example.com"}, "password": {"x"}},
				"bad UTF-8": {"id": {id}, "csrf": {apptest.Hidden(page).Get("csrf")}, "email": {"\xff@example.com"}, "password": {"x"}},
			} {
				if resp, _ := b.Post("/login", form); resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("POST /login with %s: %d", name, resp.StatusCode)
				}
			}
			for _, body := range []string{"grant_type=client_credentials&client_id=svc%00", "grant_type=authorization_code&code=%00&state=%ff"} {
				if resp, _ := e.PostToken("/oauth/token", mustParse(body), "", ""); resp.StatusCode != 400 {
					t.Errorf("token with %q: %d", body, resp.StatusCode)
				}
			}
			tok := e.TokenOf(apptest.UserEmail)
			for _, raw := range []string{`{"name":"a\u0000b"}`, "{\"name\":\"\xff\"}"} {
				req, _ := http.NewRequest("PATCH", e.Issuer+"/api/v1/orgs/x", strings.NewReader(raw))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := e.Srv.Client().Do(req)
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

// A locked (or frozen) database costs a request at most its store budget,
// not a statement timeout per statement: the sign-in answers 503 with
// Retry-After within the budget, and works again once the lock is gone.
func TestRequestBudgetBoundsALockedDatabase(t *testing.T) {
	t.Parallel()
	// A second, not less: the budget covers the whole request, password
	// hashing included, and a loaded CI machine running the suite under
	// -race spent more than 300ms on the sign-in after the lock was gone.
	e := apptest.New(t, "postgres", func(c *app.Config) { c.HTTP.RequestBudget = time.Second })
	b := e.Browser()
	resp, page := b.Authorize(e.AuthURL(nil))
	if resp.StatusCode != 200 {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	conn, err := pgx.Connect(t.Context(), e.Cfg.Storage.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, body := b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || apptest.Leaks(body) {
		t.Fatalf("sign-in against a locked table: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if took > 4*time.Second {
		t.Fatalf("the sign-in waited %s; the budget is 1s", took)
	}
	_ = tx.Rollback(t.Context())
	resp, page = b.Authorize(e.AuthURL(nil))
	if u := b.ClientRedirect(b.Follow(b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword))); u.Query().Get("code") == "" {
		t.Fatalf("no sign-in after the lock was released: %s (%d)", u, resp.StatusCode)
	}
}

// Replicas started together on one migrated database all come up: the
// bootstrap tolerates another replica's identical writes at the same
// moment.
func TestReplicasStartTogether(t *testing.T) {
	t.Parallel()
	for round := range 3 {
		// A fresh migrated database each round: the race is the first start.
		cfg := apptest.Config("http://127.0.0.1:1", "postgres", pgtest.DSN(t))
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *cfg
				a, err := app.New(t.Context(), &c, app.Options{})
				errs[i] = err
				if a != nil {
					a.Close()
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: replica %d did not start: %v", round, i, err)
			}
		}
	}
}

// A change committed on one replica reaches the others within a second
// (PostgreSQL LISTEN/NOTIFY), not after a cache TTL: a deleted client is
// refused, a rotated key is published.
func TestChangesReachOtherReplicasAtOnce(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, "postgres")
	cfgB := *a.Cfg
	b := apptest.StartOn(t, httptest.NewUnstartedServer(nil), &cfgB)
	b.Issuer = b.Srv.URL // the same issuer, but requests go to B's own listener
	go b.App.Run(t.Context())
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"market:view"}}
	if resp, body := b.PostToken("/oauth/token", cc, "svc", apptest.SvcSecret); resp.StatusCode != 200 {
		t.Fatalf("client_credentials on B: %d %s", resp.StatusCode, body) // and B caches the client
	}
	time.Sleep(200 * time.Millisecond) // B is listening
	if err := a.App.Store.DeleteClient(t.Context(), "svc", time.Now(), manage.CLI.Event(time.Now(), manage.EventClientDeleted, manage.About{})); err != nil {
		t.Fatal(err)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a second", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	eventually("the deleted client refused on B", func() bool {
		resp, _ := b.PostToken("/oauth/token", cc, "svc", apptest.SvcSecret)
		return resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest
	})
	_, before := b.Browser().Get("/keys")
	if err := a.App.Keys.Rotate(t.Context(), "ES256", manage.CLI); err != nil {
		t.Fatal(err)
	}
	eventually("the rotated key set published on B", func() bool {
		_, after := b.Browser().Get("/keys")
		return after != before
	})
}

// A client over its rate gets 429 with Retry-After on the token endpoint;
// requests with a wrong secret for its ID do not spend its allowance.
func TestTokenEndpointLimitsEachClient(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Tokens.ClientRate, c.Tokens.ClientBurst = 0.5, 3 })
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"market:view"}}
	for range 10 { // an attacker with svc's ID but not its secret
		if resp, _ := e.PostToken("/oauth/token", cc, "svc", "wrong-secret-0123456789abcdefghijklmnopqrstu"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong secret: %d", resp.StatusCode)
		}
	}
	for i := range 3 {
		if resp, body := e.PostToken("/oauth/token", cc, "svc", apptest.SvcSecret); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := e.PostToken("/oauth/token", cc, "svc", apptest.SvcSecret)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "slow_down") {
		t.Fatalf("past the rate: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if _, body := e.Browser().Get("/metrics"); !strings.Contains(body, `optibid_requests_shed_total{reason="client_rate"} 1`) {
		t.Error("the refusal is not counted")
	}
}
