package login_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// TestBrowserLanguagesAndBranding drives real Chromium through the
// sign-in in English and German (by ui_locales and by the browser's own
// language) and through an organization's branded sign-in, checking that
// every field has a label, and saving every screen at 1280 and 390 px in
// both languages (to $OPTIBID_SCREENSHOTS, e.g. docs/screenshots).
func TestBrowserLanguagesAndBranding(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	e := apptest.New(t, "memory")
	ctx0 := t.Context()
	acme := e.Org("acme")
	if err := e.App.Store.SetBranding(ctx0, acme.ID, storage.Branding{DisplayName: "Acme Energy Trading", Color: "#7a1f5c",
		SupportURL: "https://help.acme.example"}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Store.UpsertClient(ctx0, storage.Client{ID: "acme-desk", Name: "Acme Desk", OrgID: acme.ID,
		RedirectURIs: []string{apptest.RPCallback}, GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("OPTIBID_SCREENSHOTS")
	if dir != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir)
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, lang := range []string{"en", "de"} {
		t.Run(lang, func(t *testing.T) {
			opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
				chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true), chromedp.Flag("lang", lang),
				chromedp.Flag("accept-lang", lang), chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
				chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
			alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
			defer cancelAlloc()
			ctx, cancelCtx := chromedp.NewContext(alloc)
			defer cancelCtx()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := chromedp.Do(ctx); err != nil {
				t.Fatalf("start chromium: %v", err)
			}
			run := func(what string, acts ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				c, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				if err := chromedp.Do(c, acts...); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			text := func() string {
				s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
				return s
			}
			shot := func(name string) {
				t.Helper()
				unlabeled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]),select,textarea')].filter(i => i.labels.length === 0).length`))
				if err != nil || unlabeled != 0 {
					t.Errorf("%s: %d fields without a label (%v)", name, unlabeled, err)
				}
				htmlLang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
				if htmlLang != lang {
					t.Errorf("%s: <html lang=%q>, want %q", name, htmlLang, lang)
				}
				if dir == "" {
					return
				}
				for _, w := range []int64{1280, 390} {
					run("viewport", chromedp.EmulateViewport(w, 900))
					png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("signin-%s-%s-%d.png", name, lang, w)), png, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				run("viewport", chromedp.EmulateViewport(1280, 900))
			}
			want := map[string]map[string]string{
				"login":    {"en": "Forgot password?", "de": "Passwort vergessen?"},
				"branded":  {"en": "Help from Acme Energy Trading", "de": "Hilfe von Acme Energy Trading"},
				"register": {"en": "Create your account", "de": "Konto erstellen"},
				"forgot":   {"en": "Send reset link", "de": "Link senden"},
				"account":  {"en": "Connected applications", "de": "Verbundene Anwendungen"},
				"notfound": {"en": "Page not found", "de": "Seite nicht gefunden"},
			}
			check := func(name string) {
				t.Helper()
				if got := text(); !strings.Contains(got, want[name][lang]) {
					t.Fatalf("%s (%s): want %q in %.600q", name, lang, want[name][lang], got)
				}
				shot(name)
			}
			// The browser's language picks the screens' language.
			run("login", chromedp.Navigate(e.AuthURL(nil)), chromedp.WaitVisible(chromedp.ID("email")))
			check("login")
			_, ch := apptest.PKCE()
			run("branded login", chromedp.Navigate(e.AuthURL(map[string]string{"client_id": "acme-desk", "redirect_uri": apptest.RPCallback, "scope": "openid email",
				"code_challenge": ch, "code_challenge_method": "S256"})),
				chromedp.WaitVisible(chromedp.ID("email")))
			check("branded")
			run("register", chromedp.Navigate(e.Issuer+"/register"), chromedp.WaitVisible(chromedp.ID("name")))
			check("register")
			run("forgot", chromedp.Navigate(e.Issuer+"/forgot"), chromedp.WaitVisible(chromedp.ID("email")))
			check("forgot")
			run("404", chromedp.Navigate(e.Issuer+"/no/such/page"), chromedp.WaitVisible(chromedp.CSS("h1")))
			check("notfound")
			run("account sign-in", chromedp.Navigate(e.Issuer+"/account/signin"), chromedp.WaitVisible(chromedp.ID("email")),
				chromedp.SendKeys(chromedp.ID("email"), apptest.UserEmail), chromedp.SendKeys(chromedp.ID("password"), apptest.UserPassword),
				chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.ID("name")))
			check("account")
			// ui_locales wins over the browser's language.
			other := map[string]string{"en": "de", "de": "en"}[lang]
			run("ui_locales", chromedp.Navigate(e.AuthURL(map[string]string{"ui_locales": other, "prompt": "login"})), chromedp.WaitVisible(chromedp.ID("email")))
			if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`)); got != other {
				t.Fatalf("ui_locales=%s gave %q", other, got)
			}
		})
	}
}
