package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/storage"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	pgtest.Main(m)
}

const (
	userEmail    = "ada@example.com"
	userPassword = "correct horse battery staple"
	webSecret    = "web-secret-0123456789abcdefghijklmnopqrstuv"
	web2Secret   = "web2-secret-0123456789abcdefghijklmnopqrstu"
	svcSecret    = "svc-secret-0123456789abcdefghijklmnopqrstuv"
	rpCallback   = "https://rp.example/cb"
)

func key32() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// testConfig is a complete configuration for an in-process provider.
func testConfig(issuer, storageType, dsn string) *Config {
	c := &Config{
		Issuer:  issuer,
		DevMode: true, // outbox senders: tests read the mail the provider sends
		// Upstream providers in the tests run on loopback.
		Federation: FederationConfig{AllowPrivateNetworks: true},
		HTTP:       HTTPConfig{Addr: "127.0.0.1:0"},
		Storage:    StorageConfig{Type: storageType},
		Keys:       KeysConfig{EncryptionKey: key32()},
		Sessions:   SessionsConfig{CSRFKey: key32()},
		// Cheap hashing keeps the suite fast; production parameters are
		// benchmarked separately.
		Passwords: PasswordsConfig{Argon2: password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}, MaxConcurrentHashes: 8},
		Bootstrap: Bootstrap{
			Organizations: []BootstrapOrg{{Slug: "acme", Name: "Acme Energy"}},
			Users: []BootstrapUser{{Email: userEmail, Password: userPassword, Name: "Ada Lovelace", Organization: "acme", Role: "owner"},
				{Email: "bob@example.com", Password: userPassword, Name: "Bob", Organization: "acme", Role: "member"}},
			Clients: []BootstrapClient{
				{ID: "web", Secret: webSecret, Name: "Web App", RedirectURIs: []string{rpCallback, "https://rp.example/cb2"},
					PostLogoutRedirectURIs: []string{"https://rp.example/bye"}, GrantTypes: []string{"authorization_code", "refresh_token"},
					FirstParty: true},
				{ID: "web2", Secret: web2Secret, Name: "Other App", RedirectURIs: []string{"https://other.example/cb"},
					GrantTypes: []string{"authorization_code", "refresh_token"}, FirstParty: true},
				{ID: "native", Name: "CLI", RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
					FirstParty: true},
				{ID: "consent", Secret: webSecret, Name: "Consent App", RedirectURIs: []string{rpCallback}, RequireConsent: true,
					GrantTypes: []string{"authorization_code"}},
				{ID: "svc", Secret: svcSecret, Name: "Service", GrantTypes: []string{"client_credentials"}, Scopes: []string{"market:view"},
					IDTokenSignedAlg: "ES256"},
			},
		},
	}
	c.Storage.Postgres.DSN = dsn
	c.setDefaults()
	return c
}

// env is one provider running in-process on loopback.
type env struct {
	t      testing.TB
	app    *App
	srv    *httptest.Server
	issuer string
	cfg    *Config
	clock  *clock
	dns    *testDNS
}

// clock is a settable time source shared by the app.
type clock struct{ offset time.Duration }

func (c *clock) now() time.Time { return time.Now().Add(c.offset) }

// backends are the storage types every end-to-end test runs against.
var backends = []string{"memory", "postgres"}

// newEnv starts a provider on store ("memory" or "postgres"); mutate may
// adjust the config before start.
func newEnv(t testing.TB, store string, mutate ...func(*Config)) *env {
	t.Helper()
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	cfg := testConfig(issuer, store, dsn)
	for _, m := range mutate {
		m(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return startOn(t, srv, cfg)
}

func startOn(t testing.TB, srv *httptest.Server, cfg *Config) *env {
	t.Helper()
	clk := &clock{}
	dns := &testDNS{records: map[string][]string{}}
	app, err := newApp(context.Background(), cfg, clk.now, dns)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = app.Handler
	srv.Config.MaxHeaderBytes = 8 << 10
	srv.Start()
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &env{t: t, app: app, srv: srv, issuer: cfg.Issuer, cfg: cfg, clock: clk, dns: dns}
}

// testDNS answers TXT lookups from a map: tests publish records there and
// no query leaves the process.
type testDNS struct {
	mu      sync.Mutex
	records map[string][]string
}

func (d *testDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.records[name], nil
}

func (d *testDNS) publish(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records[name] = append(d.records[name], value)
}

// browser is a user agent: a cookie jar and no automatic redirects, so
// each step of the flow can be inspected.
type browser struct {
	t testing.TB
	c *http.Client
	e *env
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(u), nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.issuer)
	return b.do(req)
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.e.issuer + u
	}
	return u
}

var hiddenRE = regexp.MustCompile(`type="hidden" name="([^"]+)" value="([^"]*)"`)

// hidden returns a page's hidden form fields.
func hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// authorize starts a flow and returns the login page (after following our
// own redirect to it).
func (b *browser) authorize(authURL string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(authURL)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
		return resp, body
	}
	return b.get(resp.Header.Get("Location"))
}

// submitLogin posts the login form of page.
func (b *browser) submitLogin(page, email, pw string) (*http.Response, string) {
	b.t.Helper()
	f := hidden(page)
	f.Set("email", email)
	f.Set("password", pw)
	return b.post("/login", f)
}

// follow follows redirects while they stay on the provider and returns the
// first response that leaves it (or is not a redirect).
func (b *browser) follow(resp *http.Response, body string) (*http.Response, string) {
	b.t.Helper()
	for i := 0; i < 10 && isRedirect(resp.StatusCode); i++ {
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, b.e.issuer) {
			return resp, body
		}
		resp, body = b.get(loc)
	}
	return resp, body
}

func isRedirect(code int) bool { return code >= 300 && code < 400 }

// login runs a full interactive login and returns the redirect to the
// client (the URL carrying code or error).
func (b *browser) login(authURL, email, pw string) *url.URL {
	b.t.Helper()
	resp, page := b.authorize(authURL)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("login page: status %d: %s", resp.StatusCode, page)
	}
	resp, body := b.follow(b.submitLogin(page, email, pw))
	return b.clientRedirect(resp, body)
}

// clientRedirect asserts resp is a redirect to a client and parses it.
func (b *browser) clientRedirect(resp *http.Response, body string) *url.URL {
	b.t.Helper()
	if !isRedirect(resp.StatusCode) {
		b.t.Fatalf("want redirect to client, got %d: %.3000s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("v", 8) + key32()))[:64]
	return v, oidc.NewSHACodeChallenge(v)
}

// authURL builds an authorization URL for client "web" (or another).
func (e *env) authURL(params map[string]string) string {
	q := url.Values{"client_id": {"web"}, "redirect_uri": {rpCallback}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"st-1"}, "nonce": {"n-1"}}
	for k, v := range params {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return e.issuer + "/authorize?" + q.Encode()
}

// relyingParty is a real OIDC client library pointed at the provider.
func (e *env) relyingParty(clientID, secret, nonce string) rp.RelyingParty {
	e.t.Helper()
	party, err := rp.NewRelyingPartyOIDC(context.Background(), e.issuer, clientID, secret, rpCallback,
		[]string{"openid", "profile", "email", "offline_access"}, rp.WithHTTPClient(e.srv.Client()),
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
	if err != nil {
		e.t.Fatal(err)
	}
	return party
}

// tokenRequest posts to the token endpoint with HTTP Basic client auth
// when secret is set.
func (e *env) postToken(path string, form url.Values, clientID, secret string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// codeFor logs in with PKCE and returns the code and its verifier.
func (e *env) codeFor(b *browser, params map[string]string) (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce()
	p := map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}
	for k, v := range params {
		p[k] = v
	}
	u := b.login(e.authURL(p), userEmail, userPassword)
	if u.Query().Get("code") == "" {
		e.t.Fatalf("no code: %s", u)
	}
	return u.Query().Get("code"), verifier
}

func (e *env) exchange(code, verifier string) (*http.Response, string) {
	return e.postToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {rpCallback}, "code_verifier": {verifier}}, "web", webSecret)
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func httptestUnstarted() *httptest.Server { return httptest.NewUnstartedServer(nil) }

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }

func auditNone() storage.AuditEvent { return storage.AuditEvent{} }

func auditFilterAll() storage.AuditFilter { return storage.AuditFilter{} }

func pgtestDSN(t testing.TB) string { return pgtest.DSN(t) }

func httpNewRequest(method, u, bearer string) (*http.Request, error) {
	req, err := http.NewRequest(method, u, nil)
	if err == nil && bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req, err
}

var ioCopy = io.Copy
