package apptest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/optibid/idp/storage"
)

// NewPassword is a password the policy accepts, for registrations, resets
// and password changes.
const NewPassword = "orbit lantern velvet harbor"

// TokenResponse is the token endpoint's answer (or its error).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// DecodeToken parses a token endpoint's body, or fails.
func DecodeToken(t testing.TB, body string) TokenResponse {
	t.Helper()
	var tr TokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, body)
	}
	return tr
}

// Claims decodes a JWT's payload without verifying it (tests verify
// signatures with the relying-party library or a JWKS where that is the
// point).
func Claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	_ = json.Unmarshal(raw, &m)
	return m
}

// TokensFrom finishes a flow at its client redirect u and redeems the
// code of client "web" with verifier.
func (e *Env) TokensFrom(u *url.URL, verifier string) TokenResponse {
	e.T.Helper()
	if u.Query().Get("code") == "" {
		e.T.Fatalf("no code: %s", u)
	}
	_, body := e.Exchange(u.Query().Get("code"), verifier)
	return DecodeToken(e.T, body)
}

// Userinfo calls /userinfo with the access token at; the body is closed.
func (e *Env) Userinfo(at string) *http.Response {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// API calls the management API (/api/v1) with a bearer token and decodes
// the JSON answer.
func (e *Env) API(method, path, token string, body any) (int, map[string]any) {
	e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.Issuer+"/api/v1"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TokenOf signs email in (password UserPassword) through the first-party
// client "web" and returns an access token for the management API.
func (e *Env) TokenOf(email string) string {
	e.T.Helper()
	verifier, ch := PKCE()
	u := e.Browser().Login(e.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256",
		"resource": e.Issuer + "/api", "scope": "openid profile email manage"}), email, UserPassword)
	_, body := e.Exchange(u.Query().Get("code"), verifier)
	return DecodeToken(e.T, body).AccessToken
}

// User is the stored user with email, or fails.
func (e *Env) User(email string) storage.User {
	e.T.Helper()
	u, err := e.App.Store.UserByEmail(context.Background(), email)
	if err != nil {
		e.T.Fatal(err)
	}
	return u
}

// Org is the stored organization with slug, or fails.
func (e *Env) Org(slug string) storage.Organization {
	e.T.Helper()
	o, err := e.App.Store.OrganizationBySlug(context.Background(), slug)
	if err != nil {
		e.T.Fatal(err)
	}
	return o
}

// MailTo returns the body of the newest outbox message to addr whose
// subject contains subject, or fails.
func (e *Env) MailTo(addr, subject string) string {
	e.T.Helper()
	for _, m := range e.App.Outbox.Messages() {
		if m.To == addr && strings.Contains(m.Subject, subject) {
			return m.Body
		}
	}
	e.T.Fatalf("no mail to %s about %q", addr, subject)
	return ""
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// LinkIn returns the first link in a mail body, or fails.
func LinkIn(t testing.TB, body string) string {
	t.Helper()
	l := linkRE.FindString(body)
	if l == "" {
		t.Fatalf("no link in %q", body)
	}
	return l
}

// Form is one form of a page: where it posts and its hidden fields.
type Form struct {
	Action string
	Fields url.Values
}

var formRE = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)

// Forms returns the post forms of page, in order.
func Forms(page string) []Form {
	var out []Form
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		out = append(out, Form{Action: HTMLUnescape(m[1]), Fields: Hidden(m[2])})
	}
	return out
}

// Fill posts the first form of page that posts to action: its hidden
// fields plus values. (A page may hold several forms; their fields must
// not mix.)
func (b *Browser) Fill(page, action string, values map[string]string) (*http.Response, string) {
	b.t.Helper()
	f := url.Values{}
	for _, form := range Forms(page) {
		if form.Action == action {
			f = form.Fields
			break
		}
	}
	if f.Get("csrf") == "" {
		b.t.Fatalf("no form posting to %s on the page: %.300s", action, page)
	}
	for k, v := range values {
		f.Set(k, v)
	}
	return b.Post(action, f)
}

// AccountSignIn signs the browser in to the account page with a password
// and returns the page.
func (b *Browser) AccountSignIn(email, pw string) string {
	b.t.Helper()
	resp, _ := b.Get("/account/signin")
	_, page := b.Get(resp.Header.Get("Location"))
	resp, page = b.Follow(b.SubmitLogin(page, email, pw))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your account") {
		b.t.Fatalf("account sign-in: %d %.300s", resp.StatusCode, page)
	}
	return page
}

// WantErrorPage asserts the response is our friendly 4xx error page, not
// a redirect.
func WantErrorPage(t testing.TB, resp *http.Response, body string) {
	t.Helper()
	if resp.Header.Get("Location") != "" || IsRedirect(resp.StatusCode) {
		t.Fatalf("redirected to %q; want an error page", resp.Header.Get("Location"))
	}
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(body, "We could not continue") {
		t.Fatalf("want friendly 4xx page, got %d: %.200s", resp.StatusCode, body)
	}
}

// Leaks reports internal detail in an answer that must never reach a
// client: stack traces, Go file names, driver and storage errors.
func Leaks(body string) bool {
	for _, s := range []string{"goroutine ", "panic", ".go:", "runtime error", "pgx", "sql:", "storage:", "\tat "} {
		if strings.Contains(body, s) {
			return true
		}
	}
	return false
}

// ConsoleSignIn signs the browser in to the web console with a password
// (the console's own authorization-code flow) and returns the page the
// console lands on.
func (b *Browser) ConsoleSignIn(email, pw string) (*http.Response, string) {
	b.t.Helper()
	resp, page := b.Get("/console")
	for i := 0; i < 5 && IsRedirect(resp.StatusCode) && !strings.HasPrefix(resp.Header.Get("Location"), "/login?id="); i++ {
		resp, page = b.Get(resp.Header.Get("Location"))
	}
	if !strings.HasPrefix(resp.Header.Get("Location"), "/login?id=") {
		b.t.Fatalf("console: no login page: %d %s %.300s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	_, page = b.Get(resp.Header.Get("Location"))
	return b.Follow(b.SubmitLogin(page, email, pw))
}

// ConfirmEmail opens a confirmation link and presses its button (opening
// the link alone confirms nothing), returning the answer to the button.
func (b *Browser) ConfirmEmail(link string) (*http.Response, string) {
	b.t.Helper()
	resp, page := b.Get(link)
	if resp.StatusCode != http.StatusOK {
		return resp, page
	}
	return b.Fill(page, "/verify-email", nil)
}
