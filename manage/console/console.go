package console

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ClientID is the console's client at its own provider: a first-party,
// public client (PKCE) that the application registers at start.
const ClientID = "optibid-console"

// Config is the console's setting.
type Config struct {
	// Issuer is the provider's issuer URL; the console's redirect URI is
	// Issuer + "/console/callback".
	Issuer string
	// ManagementAPI is the management API's identifier (the resource the
	// console asks tokens for).
	ManagementAPI string
	// ProductName heads the pages.
	ProductName string
}

// Sealer encrypts and authenticates the console's cookies.
type Sealer interface {
	Seal(plaintext, additional []byte) []byte
	Open(sealed, additional []byte) ([]byte, error)
}

// Deps are the console's collaborators.
type Deps struct {
	// Provider is the provider's own router: the console redeems codes
	// and refresh tokens at /oauth/token and calls /api/v1 through it,
	// in-process, exactly as an outside client would over the network.
	Provider http.Handler
	Sealer   Sealer
	Cookies  httpx.Cookies
	Now      func() time.Time
}

// Console serves /console.
type Console struct {
	cfg    Config
	origin string // scheme://host of the issuer
	deps   Deps
	pages  map[string]*template.Template
}

// New parses the templates (failing fast on a broken one).
func New(cfg Config, d Deps) (*Console, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "OptiBid"
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("console: issuer %q is not a URL", cfg.Issuer)
	}
	c := &Console{cfg: cfg, origin: iss.Scheme + "://" + iss.Host, deps: d, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return c, nil
}

// Register mounts the console's routes.
func (c *Console) Register(r *mux.Router) {
	static, _ := fs.Sub(staticFS, "static")
	r.PathPrefix("/console/static/").Handler(http.StripPrefix("/console/static/", http.FileServer(http.FS(static)))).Methods(http.MethodGet)
	r.HandleFunc("/console", c.home).Methods(http.MethodGet)
	r.HandleFunc("/console/login", c.login).Methods(http.MethodGet)
	r.HandleFunc("/console/callback", c.callback).Methods(http.MethodGet)
	r.HandleFunc("/console/logout", c.logout).Methods(http.MethodPost)
	r.HandleFunc("/console/platform", c.authed(c.platform)).Methods(http.MethodGet)
	r.HandleFunc("/console/platform/do/{action}", c.authed(c.platformAction)).Methods(http.MethodPost)
	r.HandleFunc("/console/orgs/{org}", c.authed(c.orgPage("overview"))).Methods(http.MethodGet)
	r.HandleFunc("/console/orgs/{org}/audit.{format:csv|jsonl}", c.authed(c.auditExport)).Methods(http.MethodGet)
	r.HandleFunc("/console/orgs/{org}/{page:settings|domains|members|connections|clients|features|usage|audit}",
		c.authed(c.orgPageVar)).Methods(http.MethodGet)
	r.HandleFunc("/console/orgs/{org}/do/{action}", c.authed(c.orgAction)).Methods(http.MethodPost)
}

// --- sessions ---

const (
	sessionCookie = "optibid_console"
	stateCookie   = "optibid_console_auth"
	// sessionLife bounds a console session; the refresh token's own
	// lifetime and the SSO session's rules apply within it.
	sessionLife = 12 * time.Hour
)

// session is what the console's cookie holds, sealed.
type session struct {
	AccessToken  string    `json:"at"`
	RefreshToken string    `json:"rt,omitempty"`
	IDToken      string    `json:"idt,omitempty"` // the logout hint
	Expires      time.Time `json:"exp"`
	Started      time.Time `json:"start"`
	// CSRF is the token every console form carries.
	CSRF string `json:"csrf"`
}

// pending is a sign-in in progress (state cookie).
type pending struct {
	State    string    `json:"state"`
	Verifier string    `json:"verifier"`
	Next     string    `json:"next"`
	Expires  time.Time `json:"exp"`
}

func (c *Console) seal(w http.ResponseWriter, name string, v any, maxAge int) {
	b, _ := json.Marshal(v)
	c.deps.Cookies.Set(w, name, base64.RawURLEncoding.EncodeToString(c.deps.Sealer.Seal(b, []byte(name))), maxAge)
}

func (c *Console) open(r *http.Request, name string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(c.deps.Cookies.Get(r, name))
	if err != nil || len(raw) == 0 {
		return false
	}
	b, err := c.deps.Sealer.Open(raw, []byte(name))
	return err == nil && json.Unmarshal(b, v) == nil
}

// safeNext keeps a post-sign-in destination on this console or the
// invitation page: a path, never another origin.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") ||
		!strings.HasPrefix(u.Path, "/") {
		return "/console"
	}
	// Judge the path the browser will end up on: dot segments resolved
	// (escaped slashes decoded first, as the router reads them).
	p := path.Clean(u.Path)
	if p != "/console" && !strings.HasPrefix(p, "/console/") && p != "/invitations/accept" {
		return "/console"
	}
	return (&url.URL{Path: p, RawQuery: u.RawQuery}).RequestURI()
}

// login starts the authorization-code flow with PKCE at our own provider.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	p := pending{State: random.Token(32), Verifier: random.Token(48), Next: safeNext(r.URL.Query().Get("next")), Expires: c.deps.Now().Add(30 * time.Minute)}
	c.seal(w, stateCookie, p, 1800)
	sum := sha256.Sum256([]byte(p.Verifier))
	q := url.Values{"client_id": {ClientID}, "redirect_uri": {c.redirectURI()}, "response_type": {"code"},
		"scope": {"openid profile email offline_access manage"}, "resource": {c.cfg.ManagementAPI}, "state": {p.State},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if hint := r.URL.Query().Get("login_hint"); hint != "" && len(hint) <= 254 {
		q.Set("login_hint", hint)
	}
	http.Redirect(w, r, "/authorize?"+q.Encode(), http.StatusFound)
}

func (c *Console) redirectURI() string {
	return strings.TrimSuffix(c.cfg.Issuer, "/") + "/console/callback"
}

// callback redeems the code (in-process, at the token endpoint) and
// starts the console session.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	var p pending
	q := r.URL.Query()
	if !c.open(r, stateCookie, &p) || c.deps.Now().After(p.Expires) || q.Get("state") == "" ||
		subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		c.problem(w, r, http.StatusBadRequest, "This sign-in link has expired or was opened in another browser. Please sign in again.", "state")
		return
	}
	c.deps.Cookies.Set(w, stateCookie, "", -1)
	if e := q.Get("error"); e != "" || q.Get("code") == "" {
		c.problem(w, r, http.StatusForbidden, "The sign-in did not complete. You can try again.", "authorization error", "error", httpx.Clip(e))
		return
	}
	tok, err := c.token(r, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {c.redirectURI()},
		"client_id": {ClientID}, "code_verifier": {p.Verifier}})
	if err != nil {
		c.fail(w, r, "redeem code", err)
		return
	}
	now := c.deps.Now()
	c.seal(w, sessionCookie, session{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: tok.IDToken,
		Expires: now.Add(time.Duration(tok.ExpiresIn) * time.Second), Started: now, CSRF: random.Token(32)}, int(sessionLife.Seconds()))
	http.Redirect(w, r, p.Next, http.StatusFound)
}

// logout ends the console session, revokes its refresh token and ends the
// single sign-on session at the provider.
//
// Only a console form signs out (a cross-site post could otherwise drop
// the cookie without revoking anything); the ID token as a hint lets the
// provider end its session without asking again.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	var s session
	if !c.open(r, sessionCookie, &s) {
		http.Redirect(w, r, "/console", http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil || !c.csrfOK(r, s) {
		c.problem(w, r, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.", "csrf")
		return
	}
	if s.RefreshToken != "" {
		_, _ = c.call(r, http.MethodPost, "/revoke", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"token": {s.RefreshToken}, "client_id": {ClientID}}.Encode()), "")
	}
	c.deps.Cookies.Set(w, sessionCookie, "", -1)
	q := url.Values{"client_id": {ClientID}, "post_logout_redirect_uri": {strings.TrimSuffix(c.cfg.Issuer, "/") + "/console"}}
	if s.IDToken != "" {
		q.Set("id_token_hint", s.IDToken)
	}
	http.Redirect(w, r, "/end_session?"+q.Encode(), http.StatusFound)
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// errSignedOut means the session can no longer get tokens.
var errSignedOut = errors.New("console: signed out")

func (c *Console) token(r *http.Request, form url.Values) (tokenResponse, error) {
	res, err := c.call(r, http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "")
	if err != nil {
		return tokenResponse{}, err
	}
	var t tokenResponse
	switch {
	case res.status == http.StatusOK && json.Unmarshal(res.body, &t) == nil && t.AccessToken != "":
		return t, nil
	case res.status >= 500 || res.status == http.StatusTooManyRequests:
		return tokenResponse{}, fmt.Errorf("console: token endpoint answered %d", res.status)
	}
	return tokenResponse{}, fmt.Errorf("%w: token endpoint answered %d", errSignedOut, res.status)
}

// authedHandler is a page or action with its session.
type authedHandler func(w http.ResponseWriter, r *http.Request, s *session)

// authed loads the session (refreshing its access token when it is about
// to expire) or sends the person to sign in.
func (c *Console) authed(f authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s session
		now := c.deps.Now()
		if !c.open(r, sessionCookie, &s) || now.Sub(s.Started) > sessionLife {
			c.toLogin(w, r)
			return
		}
		if now.Add(time.Minute).After(s.Expires) {
			if s.RefreshToken == "" {
				c.toLogin(w, r)
				return
			}
			tok, err := c.token(r, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.RefreshToken}, "client_id": {ClientID}})
			if errors.Is(err, errSignedOut) {
				c.toLogin(w, r)
				return
			}
			if err != nil {
				c.fail(w, r, "refresh", err)
				return
			}
			s.AccessToken, s.Expires = tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second)
			if tok.RefreshToken != "" {
				s.RefreshToken = tok.RefreshToken
			}
			c.seal(w, sessionCookie, s, int(sessionLife.Seconds()-now.Sub(s.Started).Seconds()))
		}
		f(w, r, &s)
	}
}

func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	c.deps.Cookies.Set(w, sessionCookie, "", -1)
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = "/console"
	}
	http.Redirect(w, r, "/console/login?next="+url.QueryEscape(next), http.StatusFound)
}

// csrfOK checks that a form came from a console page: the session's
// token, and a same-origin post (httpx.SameOriginForm).
func (c *Console) csrfOK(r *http.Request, s session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1 && httpx.SameOriginForm(r, c.origin)
}

// --- calling the provider in-process ---

type result struct {
	status int
	body   []byte
	header http.Header
}

// recorder is the smallest http.ResponseWriter: the console reads the
// whole answer of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// call sends one request through the provider's router, as the person's
// browser: same client address and user agent, so audit rows and rate
// limits see the person, not the console.
func (c *Console) call(r *http.Request, method, path, contentType string, body io.Reader, bearer string) (result, error) {
	req, err := http.NewRequestWithContext(r.Context(), method, strings.TrimSuffix(c.cfg.Issuer, "/")+path, body)
	if err != nil {
		return result{}, fmt.Errorf("console: %w", err)
	}
	// The same peer and every forwarding line, so that the provider finds
	// the same client address as for the person's own request (one line
	// alone could be one the client wrote).
	req.RemoteAddr = r.RemoteAddr
	for _, h := range []string{"User-Agent", "X-Forwarded-For", "Accept-Language"} {
		if vs := r.Header.Values(h); len(vs) > 0 {
			req.Header[h] = slices.Clone(vs)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := &recorder{header: http.Header{}}
	c.deps.Provider.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return result{status: rec.status, body: rec.body.Bytes(), header: rec.header}, nil
}

// apiError is the management API's error body.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// errAPI is an answer the person should see (a refused change): its
// message is the API's, written for people.
type errAPI struct {
	status int
	apiError
}

func (e *errAPI) Error() string { return fmt.Sprintf("console: api %d %s", e.status, e.apiError.Error) }

// api calls /api/v1 with the session's token and decodes a 2xx answer
// into out (nil: ignored). A 4xx is *errAPI; 401 is errSignedOut.
func (c *Console) api(r *http.Request, s *session, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	res, err := c.call(r, method, "/api/v1"+path, ct, body, s.AccessToken)
	if err != nil {
		return err
	}
	switch {
	case res.status == http.StatusUnauthorized:
		return errSignedOut
	case res.status >= 200 && res.status < 300:
		if out != nil && len(res.body) > 0 {
			if err := json.Unmarshal(res.body, out); err != nil {
				return fmt.Errorf("console: decode %s: %w", path, err)
			}
		}
		return nil
	case res.status >= 300 && res.status < 400:
		// The router redirects only paths it would not serve as sent.
		return &errAPI{status: http.StatusBadRequest, apiError: apiError{Error: "invalid_request", Message: "That request could not be understood."}}
	case res.status >= 400 && res.status < 500 && res.status != http.StatusTooManyRequests:
		e := &errAPI{status: res.status}
		_ = json.Unmarshal(res.body, &e.apiError)
		if e.Message == "" {
			e.Message = "That did not work."
		}
		return e
	}
	return fmt.Errorf("console: api %s %s answered %d", method, path, res.status)
}

// --- rendering ---

var funcs = template.FuncMap{
	"has": func(perms []string, p string) bool {
		for _, x := range perms {
			if x == p {
				return true
			}
		}
		return false
	},
	"join": strings.Join,
	"when": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case string:
			if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
				return p.UTC().Format("2006-01-02 15:04 UTC")
			}
			return t
		}
		return ""
	},
	"json": func(v any) string {
		if v == nil {
			return ""
		}
		b, _ := json.Marshal(v)
		return string(b)
	},
}

// page is what every template gets.
type page struct {
	Title   string
	Product string
	CSRF    string
	// Org is the organization being managed (nil on other pages), Role
	// and Permissions the person's in it.
	Org         *orgView
	Role        string
	Permissions []string
	Orgs        []orgEntry
	Me          *me
	Active      string
	Notice      string
	Error       string
	ErrorField  string
	Data        any
}

// CSP of console pages: the login pages' policy plus same-origin scripts
// (the copy buttons).
const consoleCSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

const flashCookie = "optibid_console_flash"

// flash keeps a notice for the next page (after a change's redirect): in
// a sealed cookie, so a link cannot put words on a console page.
func (c *Console) flash(w http.ResponseWriter, msg string) { c.seal(w, flashCookie, msg, 60) }

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var notice string
	if c.open(r, flashCookie, &notice) {
		c.deps.Cookies.Set(w, flashCookie, "", -1)
		if p.Notice == "" {
			p.Notice = notice
		}
	}
	t, ok := c.pages[name]
	if !ok {
		slog.ErrorContext(r.Context(), "console: no template", "page", name)
		http.Error(w, "Something went wrong.", http.StatusInternalServerError)
		return
	}
	p.Product = c.cfg.ProductName
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		slog.ErrorContext(r.Context(), "console: render", "page", name, "error", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!doctype html><title>Error</title><p>Something went wrong. Please try again.</p>")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	httpx.NoStore(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// problem shows a friendly page; cause goes to the log with the reference.
func (c *Console) problem(w http.ResponseWriter, r *http.Request, status int, msg, reason string, cause ...any) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
		w.Header().Set("Retry-After", "5")
	}
	slog.Log(r.Context(), level, "console page", append([]any{"status", status, "path", httpx.Clip(r.URL.Path), "reason", reason}, cause...)...)
	c.render(w, r, status, "problem", page{Title: "Something went wrong", Error: msg, Data: httpx.RequestID(r.Context())})
}

// fail answers an error from a call: signed out → sign in again; a
// missing object → 404; anything else → 503 (logged, never shown).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	var e *errAPI
	switch {
	case errors.Is(err, errSignedOut):
		c.toLogin(w, r)
	case errors.As(err, &e) && e.status == http.StatusNotFound:
		c.problem(w, r, http.StatusNotFound, "There is nothing here, or you do not have access to it.", what)
	case errors.As(err, &e) && e.status == http.StatusForbidden:
		c.problem(w, r, http.StatusForbidden, e.Message, what)
	case errors.As(err, &e):
		c.problem(w, r, e.status, e.Message, what)
	default:
		c.problem(w, r, http.StatusServiceUnavailable, "The console is temporarily unavailable. Please try again shortly.", what, "error", err)
	}
}

// --- shared views (the API's JSON) ---

type orgView struct {
	Branding             branding        `json:"branding"`
	ID                   string          `json:"id"`
	Slug                 string          `json:"slug"`
	Name                 string          `json:"name"`
	Plan                 string          `json:"plan"`
	MFA                  string          `json:"mfa"`
	RequireVerifiedEmail bool            `json:"require_verified_email"`
	JoinByDomain         bool            `json:"join_by_domain"`
	Settings             json.RawMessage `json:"settings"`
}

type branding struct {
	DisplayName string `json:"display_name"`
	Logo        string `json:"logo"`
	Color       string `json:"color"`
	SupportURL  string `json:"support_url"`
}

// LogoURL is the logo for an <img>: a data URL the branding rules allow
// (PNG, JPEG, WebP or SVG as base64), so it may be used as a source.
func (b branding) LogoURL() template.URL {
	if !strings.HasPrefix(b.Logo, "data:image/") {
		return ""
	}
	return template.URL(b.Logo)
}

type orgEntry struct {
	Org  orgView `json:"org"`
	Role string  `json:"role"`
}

type me struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	PlatformAdmin bool   `json:"platform_admin"`
}

// base loads what every page shows: who is signed in and their
// organizations (for the switcher).
func (c *Console) base(r *http.Request, s *session, p *page) error {
	var m me
	if err := c.api(r, s, http.MethodGet, "/me", nil, &m); err != nil {
		return err
	}
	var orgs struct {
		Orgs []orgEntry `json:"orgs"`
	}
	if err := c.api(r, s, http.MethodGet, "/orgs?limit=50", nil, &orgs); err != nil {
		return err
	}
	// The switcher lists the person's own organizations; operators find
	// the others on the platform page.
	for _, o := range orgs.Orgs {
		if o.Role != "" {
			p.Orgs = append(p.Orgs, o)
		}
	}
	p.Me, p.CSRF = &m, s.CSRF
	return nil
}

// home sends the person to their organization, their list, or sign-in.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	c.authed(func(w http.ResponseWriter, r *http.Request, s *session) {
		var p page
		if err := c.base(r, s, &p); err != nil {
			c.fail(w, r, "home", err)
			return
		}
		if len(p.Orgs) == 1 && !p.Me.PlatformAdmin {
			http.Redirect(w, r, "/console/orgs/"+p.Orgs[0].Org.Slug, http.StatusFound)
			return
		}
		p.Title = "Your organizations"
		c.render(w, r, http.StatusOK, "home", p)
	})(w, r)
}
