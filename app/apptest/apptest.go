// Package apptest runs the whole provider in-process on loopback for
// end-to-end tests: a complete test configuration, an Env with the
// running App, a Browser (cookie jar, no automatic redirects) that walks
// the sign-in screens, and helpers for the token endpoint. Every package
// whose behaviour needs the assembled provider (login, the management
// API, federation, the provider itself) tests through it.
package apptest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

// Main is a test package's TestMain: the provider's log, with request
// IDs, goes to a buffer (shown by a failing test, see StartOn), and
// PostgreSQL tests get their throwaway cluster.
func Main(m *testing.M) {
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	slog.SetDefault(slog.New(httpx.LogHandler{Handler: h}))
	pgtest.Main(m)
}

// The bootstrap's people and clients (see Config).
const (
	UserEmail    = "ada@example.com"
	UserPassword = "correct horse battery staple"
	WebSecret    = "web-secret-0123456789abcdefghijklmnopqrstuv"
	Web2Secret   = "web2-secret-0123456789abcdefghijklmnopqrstu"
	SvcSecret    = "svc-secret-0123456789abcdefghijklmnopqrstuv"
	RPCallback   = "https://rp.example/cb"
)

// Key32 is a random 32-byte key, base64-encoded (as the config takes keys).
func Key32() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Config is a complete configuration for an in-process provider.
func Config(issuer, storageType, dsn string) *app.Config {
	c := &app.Config{
		Issuer:  issuer,
		DevMode: true, // outbox senders: tests read the mail the provider sends
		// Upstream providers in the tests run on loopback.
		Federation: app.FederationConfig{AllowPrivateNetworks: true},
		HTTP:       app.HTTPConfig{Addr: "127.0.0.1:0"},
		Storage:    app.StorageConfig{Type: storageType},
		Keys:       app.KeysConfig{EncryptionKey: Key32()},
		Sessions:   app.SessionsConfig{CSRFKey: Key32()},
		// Cheap hashing keeps the suite fast; production parameters are
		// benchmarked separately.
		// Tests that hammer one client (parallel redemptions, fuzzing)
		// check other things; the per-client rate has its own test.
		Tokens:    app.TokensConfig{ClientRate: -1},
		Passwords: app.PasswordsConfig{Argon2: password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}, MaxConcurrentHashes: 8},
		Bootstrap: app.Bootstrap{
			Organizations: []app.BootstrapOrg{{Slug: "acme", Name: "Acme Energy"}},
			Users: []app.BootstrapUser{{Email: UserEmail, Password: UserPassword, Name: "Ada Lovelace", Organization: "acme", Role: "owner"},
				{Email: "bob@example.com", Password: UserPassword, Name: "Bob", Organization: "acme", Role: "member"}},
			Clients: []app.BootstrapClient{
				{ID: "web", Secret: WebSecret, Name: "Web App", RedirectURIs: []string{RPCallback, "https://rp.example/cb2"},
					PostLogoutRedirectURIs: []string{"https://rp.example/bye"}, GrantTypes: []string{"authorization_code", "refresh_token"},
					FirstParty: true},
				{ID: "web2", Secret: Web2Secret, Name: "Other App", RedirectURIs: []string{"https://other.example/cb"},
					GrantTypes: []string{"authorization_code", "refresh_token"}, FirstParty: true},
				{ID: "native", Name: "CLI", RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
					FirstParty: true},
				{ID: "consent", Secret: WebSecret, Name: "Consent App", RedirectURIs: []string{RPCallback}, RequireConsent: true,
					GrantTypes: []string{"authorization_code"}},
				{ID: "svc", Secret: SvcSecret, Name: "Service", GrantTypes: []string{"client_credentials"}, Scopes: []string{"market:view"},
					IDTokenSignedAlg: "ES256"},
			},
		},
	}
	c.Storage.Postgres.DSN = dsn
	c.SetDefaults()
	return c
}

// Env is one provider running in-process on loopback.
type Env struct {
	T      testing.TB
	App    *app.App
	Srv    *httptest.Server
	Issuer string
	Cfg    *app.Config
	Clock  *Clock
	DNS    *DNS
}

// Clock is a settable time source shared by the app.
type Clock struct{ Offset time.Duration }

// Now is the test's time.
func (c *Clock) Now() time.Time { return time.Now().Add(c.Offset) }

// Backends are the storage types every end-to-end test runs against.
var Backends = []string{"memory", "postgres"}

// New starts a provider on store ("memory" or "postgres"); mutate may
// adjust the config before start.
func New(t testing.TB, store string, mutate ...func(*app.Config)) *Env {
	t.Helper()
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	cfg := Config(issuer, store, dsn)
	for _, m := range mutate {
		m(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return StartOn(t, srv, cfg)
}

// StartOn starts the provider for cfg on srv (not yet started; cfg's
// issuer is srv's address).
func StartOn(t testing.TB, srv *httptest.Server, cfg *app.Config) *Env {
	t.Helper()
	showLogsOnFailure(t)
	clk := &Clock{}
	dns := &DNS{records: map[string][]string{}}
	a, err := app.New(context.Background(), cfg, app.Options{Now: clk.Now, Resolver: dns})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Handler
	srv.Config.MaxHeaderBytes = 8 << 10
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &Env{T: t, App: a, Srv: srv, Issuer: cfg.Issuer, Cfg: cfg, Clock: clk, DNS: dns}
}

// DNS answers TXT lookups from a map: tests publish records there and
// no query leaves the process.
type DNS struct {
	mu      sync.Mutex
	records map[string][]string
}

// LookupTXT answers the published records.
func (d *DNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.records[name], nil
}

// Publish adds a TXT record.
func (d *DNS) Publish(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records[name] = append(d.records[name], value)
}

// Browser is a user agent: a cookie jar and no automatic redirects, so
// each step of the flow can be inspected.
type Browser struct {
	t testing.TB
	c *http.Client
	e *Env
}

// Browser is a new user agent with an empty cookie jar.
func (e *Env) Browser() *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: e.T, e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Client is the browser's HTTP client: its cookie jar, and no automatic
// redirects.
func (b *Browser) Client() *http.Client { return b.c }

// As is the same browser (the same cookies) acting on another provider,
// for flows that cross two of them.
func (b *Browser) As(e *Env) *Browser { return &Browser{t: b.t, c: b.c, e: e} }

// Do sends req and reads the whole answer.
func (b *Browser) Do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// Get fetches u (relative to the issuer when it starts with /).
func (b *Browser) Get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.Abs(u), nil)
	return b.Do(req)
}

// Post submits form to u as a same-origin form post.
func (b *Browser) Post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.Abs(u), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.Issuer)
	return b.Do(req)
}

// Abs makes u absolute on the issuer.
func (b *Browser) Abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.e.Issuer + u
	}
	return u
}

var hiddenRE = regexp.MustCompile(`type="hidden" name="([^"]+)" value="([^"]*)"`)

// Hidden returns a page's hidden form fields.
func Hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], HTMLUnescape(m[2]))
	}
	return v
}

// HTMLUnescape undoes html/template's escaping of attribute values.
func HTMLUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// Authorize starts a flow and returns the login page (after following our
// own redirect to it).
func (b *Browser) Authorize(authURL string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.Get(authURL)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
		return resp, body
	}
	return b.Get(resp.Header.Get("Location"))
}

// SubmitLogin posts the login form of page.
func (b *Browser) SubmitLogin(page, email, pw string) (*http.Response, string) {
	b.t.Helper()
	f := Hidden(page)
	f.Set("email", email)
	f.Set("password", pw)
	return b.Post("/login", f)
}

// Follow follows redirects while they stay on the provider and returns the
// first response that leaves it (or is not a redirect).
func (b *Browser) Follow(resp *http.Response, body string) (*http.Response, string) {
	b.t.Helper()
	for i := 0; i < 10 && IsRedirect(resp.StatusCode); i++ {
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, b.e.Issuer) {
			return resp, body
		}
		resp, body = b.Get(loc)
	}
	return resp, body
}

// IsRedirect reports a 3xx status.
func IsRedirect(code int) bool { return code >= 300 && code < 400 }

// Login runs a full interactive login and returns the redirect to the
// client (the URL carrying code or error).
func (b *Browser) Login(authURL, email, pw string) *url.URL {
	b.t.Helper()
	resp, page := b.Authorize(authURL)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("login page: status %d: %s", resp.StatusCode, page)
	}
	resp, body := b.Follow(b.SubmitLogin(page, email, pw))
	return b.ClientRedirect(resp, body)
}

// ClientRedirect asserts resp is a redirect to a client and parses it.
func (b *Browser) ClientRedirect(resp *http.Response, body string) *url.URL {
	b.t.Helper()
	if !IsRedirect(resp.StatusCode) {
		b.t.Fatalf("want redirect to client, got %d: %.3000s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// PKCE returns a verifier and its S256 challenge.
func PKCE() (string, string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("v", 8) + Key32()))[:64]
	return v, oidc.NewSHACodeChallenge(v)
}

// AuthURL builds an authorization URL for client "web" (or another).
func (e *Env) AuthURL(params map[string]string) string {
	q := url.Values{"client_id": {"web"}, "redirect_uri": {RPCallback}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"st-1"}, "nonce": {"n-1"}}
	for k, v := range params {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return e.Issuer + "/authorize?" + q.Encode()
}

// RelyingParty is a real OIDC client library pointed at the provider.
func (e *Env) RelyingParty(clientID, secret, nonce string) rp.RelyingParty {
	e.T.Helper()
	party, err := rp.NewRelyingPartyOIDC(context.Background(), e.Issuer, clientID, secret, RPCallback,
		[]string{"openid", "profile", "email", "offline_access"}, rp.WithHTTPClient(e.Srv.Client()),
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
	if err != nil {
		e.T.Fatal(err)
	}
	return party
}

// PostToken posts to the token endpoint with HTTP Basic client auth
// when secret is set.
func (e *Env) PostToken(path string, form url.Values, clientID, secret string) (*http.Response, string) {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// CodeFor logs in with PKCE and returns the code and its verifier.
func (e *Env) CodeFor(b *Browser, params map[string]string) (code, verifier string) {
	e.T.Helper()
	verifier, challenge := PKCE()
	p := map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"}
	for k, v := range params {
		p[k] = v
	}
	u := b.Login(e.AuthURL(p), UserEmail, UserPassword)
	if u.Query().Get("code") == "" {
		e.T.Fatalf("no code: %s", u)
	}
	return u.Query().Get("code"), verifier
}

// Exchange redeems a code of client "web".
func (e *Env) Exchange(code, verifier string) (*http.Response, string) {
	return e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {RPCallback}, "code_verifier": {verifier}}, "web", WebSecret)
}
