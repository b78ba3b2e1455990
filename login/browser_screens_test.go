package login_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/app/apptest/chrome"
	"github.com/optibid/idp/storage"
)

// screenWords are words each screen shows, by language: the check that
// the flow reached the screen, and in the page's language.
var screenWords = map[string]map[string]string{
	"branded":         {"en": "Help from Acme Energy Trading", "de": "Hilfe von Acme Energy Trading"},
	"invitation":      {"en": "Sign in to accept", "de": "Zum Annehmen anmelden"},
	"landing":         {"en": "Go to your account", "de": "Zu Ihrem Konto"},
	"register":        {"en": "Create your account", "de": "Konto erstellen"},
	"check-email":     {"en": "Check your email", "de": "Prüfen Sie Ihre E-Mails"},
	"confirm-email":   {"en": "Confirm your email address", "de": "E-Mail-Adresse bestätigen"},
	"email-confirmed": {"en": "Email confirmed", "de": "E-Mail-Adresse bestätigt"},
	"forgot":          {"en": "Send reset link", "de": "Link senden"},
	"forgot-sent":     {"en": "Check your email", "de": "Prüfen Sie Ihre E-Mails"},
	"reset":           {"en": "Choose a new password", "de": "Neues Passwort wählen"},
	"reset-done":      {"en": "Password changed", "de": "Passwort geändert"},
	"error":           {"en": "We could not continue", "de": "Wir konnten nicht fortfahren"},
	"notfound":        {"en": "Page not found", "de": "Seite nicht gefunden"},
	"login":           {"en": "Forgot password?", "de": "Passwort vergessen?"},
	"org":             {"en": "Choose an organization", "de": "Organisation wählen"},
	"consent":         {"en": "Allow access?", "de": "Zugriff erlauben?"},
	"logout":          {"en": "Sign out?", "de": "Abmelden?"},
	"logged-out":      {"en": "You are signed out", "de": "Sie sind abgemeldet"},
	"enroll":          {"en": "Set up two-step verification", "de": "Zweistufige Anmeldung einrichten"},
	"backup-codes":    {"en": "Save your backup codes", "de": "Speichern Sie Ihre Backup-Codes"},
	"passkey-mfa":     {"en": "Use another way", "de": "Anderen Weg wählen"},
	"mfa":             {"en": "Code from your authenticator app", "de": "Code aus Ihrer Authenticator-App"},
	"account":         {"en": "Connected applications", "de": "Verbundene Anwendungen"},
	"passkeys":        {"en": "Your passkeys", "de": "Ihre Passkeys"},
	"passkey-enroll":  {"en": "Add a passkey", "de": "Passkey hinzufügen"},
}

// screensEnv starts a provider for the screen tour: on localhost (an RP
// ID for passkeys cannot be an IP address), with apptest.Tenants, an
// organization initech that requires a second step (erin is its member),
// a first-party client desk that returns to a relying party on loopback
// (its address is returned), and acme branded, with its own client
// acme-desk.
func screensEnv(t *testing.T) (*apptest.Env, string) {
	t.Helper()
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>Relying party</title><p id="got">%s</p>`, r.URL.Query().Encode())
	}))
	t.Cleanup(rp.Close)
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	cfg := apptest.Config("http://localhost:"+port, "memory", "")
	apptest.Tenants(cfg)
	cfg.Bootstrap.Organizations = append(cfg.Bootstrap.Organizations, app.BootstrapOrg{Slug: "initech", Name: "Initech", MFA: "required"})
	cfg.Bootstrap.Organizations = append(cfg.Bootstrap.Organizations, app.BootstrapOrg{Slug: "umbrella", Name: "Umbrella", MFA: "passkey"})
	cfg.Bootstrap.Users = append(cfg.Bootstrap.Users,
		app.BootstrapUser{Email: "erin@initech.example", Password: apptest.UserPassword, Name: "Erin", Organization: "initech", Role: "member"},
		app.BootstrapUser{Email: "frida@umbrella.example", Password: apptest.UserPassword, Name: "Frida", Organization: "umbrella", Role: "member"})
	cfg.Bootstrap.Clients = append(cfg.Bootstrap.Clients, app.BootstrapClient{ID: "desk", Secret: apptest.WebSecret, Name: "OptiBid Trading Desk",
		RedirectURIs: []string{rp.URL + "/cb"}, GrantTypes: []string{"authorization_code"}, FirstParty: true})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := apptest.StartOn(t, srv, cfg)
	ctx := t.Context()
	acme := e.Org("acme")
	if err := e.App.Store.SetBranding(ctx, acme.ID, storage.Branding{DisplayName: "Acme Energy Trading", Color: "#7a1f5c",
		SupportURL: "https://help.acme.example"}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Store.UpsertClient(ctx, storage.Client{ID: "acme-desk", Name: "Acme Desk", OrgID: acme.ID,
		RedirectURIs: []string{apptest.RPCallback}, GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	return e, rp.URL
}

// screenTour walks every screen of the sign-in (but the branded one) in
// b's language, on e from screensEnv, whose relying party is at rp.
func screenTour(t *testing.T, b *tab, e *apptest.Env, rp string) {
	ctx := t.Context()
	// The people: frank is invited to acme; dave is in two organizations;
	// ada has an authenticator app and a passkey (stored as it is after
	// registration: the screens do not use its key).
	invitation := invite(t, e, "frank@example.com", "member")
	for _, org := range []string{"acme", "globex"} {
		if err := e.App.Store.UpsertMembership(ctx, storage.Membership{UserID: e.User("dave@example.com").ID, OrgID: e.Org(org).ID, Role: "member"},
			storage.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	adaSecret, _ := enrollTOTP(e, e.Browser())
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	if err := e.App.Store.AddPasskey(ctx, storage.Passkey{ID: id, UserID: e.User(apptest.UserEmail).ID, Name: "Laptop", PublicKey: []byte{0xa0},
		AttestationType: "none", Transports: []string{"internal"}, CreatedAt: e.Clock.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}

	authURL := func(extra map[string]string) string {
		_, ch := apptest.PKCE()
		q := url.Values{"client_id": {"desk"}, "redirect_uri": {rp + "/cb"}, "response_type": {"code"}, "scope": {"openid email profile"},
			"state": {"s1"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}, "prompt": {"login"}}
		for k, v := range extra {
			q.Set(k, v)
		}
		return e.Issuer + "/authorize?" + q.Encode()
	}
	signIn := func(email, pw string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.Submit(chromedp.ID("password")))
	}
	atRP := func(what string) {
		t.Helper()
		b.run(what, chromedp.WaitVisible(chromedp.ID("got")))
	}

	// Signed out: an invitation, the landing page.
	b.open(invitation)
	b.screen("invitation")
	b.open(e.Issuer + "/")
	b.screen("landing")

	// Registration and the confirmation of the address.
	b.open(e.Issuer + "/register")
	b.screen("register")
	b.load("register", chromedp.SendKeys(chromedp.ID("name"), "Grace Hopper"), chromedp.SendKeys(chromedp.ID("email"), "grace@hopper.example"),
		chromedp.SendKeys(chromedp.ID("password"), apptest.NewPassword), chromedp.Submit(chromedp.ID("password")))
	b.screen("check-email")
	b.open(apptest.LinkIn(t, newestMail(t, e, "grace@hopper.example")))
	b.screen("confirm-email")
	b.load("confirm", chromedp.Click(chromedp.CSS(`form[action="/verify-email"] button`)))
	b.screen("email-confirmed")

	// A forgotten password.
	b.open(e.Issuer + "/forgot")
	b.screen("forgot")
	b.load("forgot", chromedp.SendKeys(chromedp.ID("email"), "grace@hopper.example"), chromedp.Submit(chromedp.ID("email")))
	b.screen("forgot-sent")
	b.open(apptest.LinkIn(t, newestMail(t, e, "grace@hopper.example")))
	b.screen("reset")
	b.load("reset", chromedp.SendKeys(chromedp.ID("password"), "copper tundra whistle beacon"), chromedp.Submit(chromedp.ID("password")))
	b.screen("reset-done")

	// Errors.
	b.open(e.Issuer + "/authorize?client_id=nobody&redirect_uri=x")
	b.screen("error")
	b.open(e.Issuer + "/no/such/page")
	b.screen("notfound")

	// Dave signs in for an application that wants his organization, then a
	// third-party application asks for his consent; he signs out.
	b.open(authURL(map[string]string{"scope": "openid email org"}))
	b.screen("login")
	b.load("dave's password", signIn("dave@example.com", apptest.UserPassword))
	b.screen("org")
	b.load("pick", chromedp.Click(chromedp.CSS(`form[action="/login/org"] button`)))
	atRP("after the organization")
	_, ch := apptest.PKCE()
	b.open(e.AuthURL(map[string]string{"client_id": "consent", "scope": "openid email profile", "code_challenge": ch, "code_challenge_method": "S256"}))
	b.screen("consent")
	b.open(e.Issuer + "/end_session")
	b.screen("logout")
	b.load("sign out", chromedp.Click(chromedp.CSS(`button[value="logout"]`)))
	b.screen("logged-out")

	// Erin's organization requires a second step she has not set up.
	b.open(authURL(nil))
	b.load("erin's password", signIn("erin@initech.example", apptest.UserPassword))
	b.screen("enroll")
	secret := strings.ReplaceAll(b.text("secret", chromedp.Text(chromedp.CSS("code.secret"))), " ", "")
	code, _ := totp.GenerateCode(secret, e.Clock.Now())
	b.load("enroll", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")))
	b.screen("backup-codes")
	b.load("continue", chromedp.Click(chromedp.CSS(`a.button:not(.secondary)`)))
	atRP("after the backup codes")

	// Frida's organization requires a passkey; she has none yet.
	b.open(authURL(nil))
	b.load("frida's password", signIn("frida@umbrella.example", apptest.UserPassword))
	b.screen("passkey-enroll")

	// Ada has a passkey and an authenticator app: the passkey is asked for
	// first, the app is another way.
	e.Clock.Offset = 30 * time.Second // the enrollment code's step is spent
	b.open(authURL(nil))
	b.load("ada's password", signIn(apptest.UserEmail, apptest.UserPassword))
	b.screen("passkey-mfa")
	b.load("another way", chromedp.Click(chromedp.CSS(`a[href^="/login/mfa"]`)))
	b.screen("mfa")
	code, _ = totp.GenerateCode(adaSecret, e.Clock.Now())
	b.load("code", chromedp.SendKeys(chromedp.ID("totp"), code), chromedp.Submit(chromedp.ID("totp")))
	atRP("after the second step")
	b.open(e.Issuer + "/account")
	b.screen("account")
	b.open(e.Issuer + "/account/passkeys")
	b.screen("passkeys")
}

// newestMail is the body of the newest message to addr (in the page's
// language, so found by address alone).
func newestMail(t *testing.T, e *apptest.Env, addr string) string {
	t.Helper()
	for _, m := range e.App.Outbox.Messages() { // newest first
		if m.To == addr {
			return m.Body
		}
	}
	t.Fatalf("no mail to %s", addr)
	return ""
}

// tab is one Chromium speaking one language (its Accept-Language). Each
// step fails the test with the page it stopped on.
type tab struct {
	t    *testing.T
	ctx  context.Context
	lang string
	dir  string // where screenshots go; "" for none
}

// newTab starts Chromium preferring lang.
func newTab(t *testing.T, exe, lang string) *tab {
	t.Helper()
	ctx := chrome.Start(t, exe, chrome.Options{Lang: lang, Timeout: 3 * time.Minute})
	return &tab{t: t, ctx: ctx, lang: lang, dir: chrome.ScreenshotDir(t, false)}
}

func (b *tab) failf(format string, args ...any) {
	b.t.Helper()
	page, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	b.t.Fatalf("%s (at %s: %.600q)", fmt.Sprintf(format, args...), loc, page)
}

// run runs actions that stay on the page.
func (b *tab) run(what string, acts ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, acts...); err != nil {
		b.failf("%s: %v", what, err)
	}
}

// load runs actions that lead to another page and waits for it.
func (b *tab) load(what string, acts ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, acts...); err != nil {
		b.failf("%s: %v", what, err)
	}
}

// open loads u.
func (b *tab) open(u string) {
	b.t.Helper()
	b.load("open "+u, chromedp.Navigate(u))
}

func (b *tab) text(what string, a chromedp.Action[string]) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, a)
	if err != nil {
		b.failf("%s: %v", what, err)
	}
	return s
}

// ownText is the page's title and text, a space between text nodes,
// without the parts marked as another language (the link to the other
// language).
const ownText = `(() => {
  const own = document.documentElement.lang, out = [document.title];
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = w.nextNode());) {
    const p = n.parentElement;
    if (!p.closest('script, style') && p.closest('[lang]').lang === own) out.push(n.data);
  }
  return out.join(' ');
})()`

// englishWords are words that a German page has no reason to show: if
// one is there, a message was not translated.
var englishWords = regexp.MustCompile(`(?i)\b(the|your|you|and|with|please|here|sign[ -]in|sign out|password|account|continue|verify|choose|send|confirm(ed)?|check|member|owner|program)\b`)

// knownEnglish are the English words German screens may still show, by
// screen: none now. Other English words on these screens fail the test,
// and so does an entry that is no longer needed.
var knownEnglish = map[string][]string{}

// screen checks the page as screen name (see screenWords) and saves it.
func (b *tab) screen(name string) {
	b.t.Helper()
	want, ok := screenWords[name][b.lang]
	if !ok {
		b.t.Fatalf("no words for screen %s", name)
	}
	text := b.text(name, chromedp.Evaluate[string](ownText))
	if !strings.Contains(text, want) {
		b.failf("%s (%s): want %q", name, b.lang, want)
	}
	if b.lang == "de" {
		b.noEnglish(name, text)
	}
	b.shot(name)
}

// noEnglish fails when the German screen name shows English words other
// than its knownEnglish, or no longer shows those.
func (b *tab) noEnglish(name, text string) {
	b.t.Helper()
	found := map[string]bool{}
	for _, w := range englishWords.FindAllString(text, -1) {
		found[strings.ToLower(w)] = true
	}
	var unknown []string
	for w := range found {
		if !slices.Contains(knownEnglish[name], w) {
			unknown = append(unknown, w)
		}
	}
	slices.Sort(unknown)
	switch {
	case len(unknown) > 0:
		b.t.Errorf("%s (de): English on the page: %q in %.800q", name, unknown, strings.Join(strings.Fields(text), " "))
	case len(found) == 0 && len(knownEnglish[name]) > 0:
		b.t.Errorf("%s (de) shows no English any more: delete its entry in knownEnglish", name)
	case len(found) > 0:
		b.t.Logf("%s (de): still shows the English %q (knownEnglish)", name, slices.Sorted(maps.Keys(found)))
	}
}

// shot checks that every field has a label and the page says its
// language, and saves the page at 1280 and 390 px as
// signin-<name>-<lang>-<width>.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	unlabeled, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]),select,textarea')].filter(i => i.labels.length === 0).length`))
	if err != nil || unlabeled != 0 {
		b.t.Errorf("%s: %d fields without a label (%v)", name, unlabeled, err)
	}
	if got := b.text("lang", chromedp.Evaluate[string](`document.documentElement.lang`)); got != b.lang {
		b.t.Errorf("%s: <html lang=%q>, want %q", name, got, b.lang)
	}
	if b.dir == "" {
		return
	}
	for _, w := range []int64{1280, 390} {
		b.run("viewport", chromedp.EmulateViewport(w, 900))
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("signin-%s-%s-%d.png", name, b.lang, w)), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run("viewport", chromedp.EmulateViewport(1280, 900))
}
