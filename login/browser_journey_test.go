package login_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/app/apptest/chrome"
	"github.com/pquerna/otp/totp"
)

// TestBrowserJourney drives real Chromium through registration, email
// verification, sign-in, TOTP enrollment, logout, a TOTP sign-in, consent
// and an error page, at phone width, saving a screenshot of every page
// (to $OPTIBID_SCREENSHOTS, e.g. docs/screenshots, or a temporary
// directory) and checking that every field has a label.
func TestBrowserJourney(t *testing.T) {
	t.Parallel()
	exe := chrome.Path(t)
	// The relying party: a page on loopback that shows what it received.
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>Relying party</title><p id="got">%s</p>`, r.URL.Query().Encode())
	}))
	defer rp.Close()
	e := apptest.New(t, "memory", func(c *app.Config) {
		c.Bootstrap.Clients = append(c.Bootstrap.Clients, app.BootstrapClient{ID: "desk", Secret: apptest.WebSecret, Name: "OptiBid Trading Desk",
			RedirectURIs: []string{rp.URL + "/cb"}, PostLogoutRedirectURIs: []string{rp.URL + "/bye"}, GrantTypes: []string{"authorization_code"},
			FirstParty: true})
	})
	dir := chrome.ScreenshotDir(t, true)
	ctx := chrome.Start(t, exe, chrome.Options{Width: 390, Height: 844})

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(stepCtx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s: %.300q)", what, err, loc, page)
		}
	}
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		unlabeled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden])')].filter(i => i.labels.length === 0).length`))
		if err != nil {
			t.Fatalf("label check %s: %v", name, err)
		}
		if unlabeled != 0 {
			t.Errorf("%s: %d fields without a label", name, unlabeled)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	location := func() string { return value("location", chromedp.Location()) }
	authURL := func(extra string) string {
		_, ch := apptest.PKCE()
		return e.Issuer + "/authorize?client_id=desk&redirect_uri=" + url.QueryEscape(rp.URL+"/cb") +
			"&response_type=code&scope=openid%20email%20profile&state=s1&code_challenge=" + ch + "&code_challenge_method=S256" + extra
	}

	run("open", chromedp.Navigate(authURL("")), chromedp.WaitVisible(chromedp.ID("email")))
	shot("01-login")
	run("to register", chromedp.Click(chromedp.CSS(`a[href^="/register"]`)), chromedp.WaitVisible(chromedp.ID("company")))
	shot("02-register")
	run("register",
		chromedp.SendKeys(chromedp.ID("name"), "Grace Hopper"), chromedp.SendKeys(chromedp.ID("email"), "grace@globex.example"),
		chromedp.SendKeys(chromedp.ID("password"), apptest.NewPassword), chromedp.SendKeys(chromedp.ID("company"), "Globex Trading"),
		chromedp.Submit(chromedp.ID("company")), chromedp.WaitVisible(chromedp.CSS("a.button")))
	shot("03-check-email")
	link := apptest.LinkIn(t, e.MailTo("grace@globex.example", "Confirm your email"))
	// Confirming in the browser that registered goes back to the
	// application, signed in, without a second sign-in.
	run("verify", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action="/verify-email"] button`)))
	shot("04-confirm-email")
	run("confirm", chromedp.Click(chromedp.CSS(`form[action="/verify-email"] button`)), chromedp.WaitVisible(chromedp.ID("got")))
	if u, _ := url.Parse(location()); u.Query().Get("code") == "" || u.Query().Get("iss") != e.Issuer {
		t.Fatalf("relying party got %s", u)
	}

	run("account", chromedp.Navigate(e.Issuer+"/account"), chromedp.WaitVisible(chromedp.ID("name")))
	shot("05-account")
	run("enroll", chromedp.Click(chromedp.CSS(`a[href="/account/totp"]`)), chromedp.WaitVisible(chromedp.CSS("img.qr")))
	secret := value("secret", chromedp.Text(chromedp.CSS("code.secret")))
	shot("06-enroll-totp")
	code, _ := totp.GenerateCode(strings.ReplaceAll(secret, " ", ""), e.Clock.Now())
	run("confirm", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS("ol.codes")))
	shot("07-backup-codes")

	run("logout", chromedp.Navigate(e.Issuer+"/end_session?client_id=desk&post_logout_redirect_uri="+url.QueryEscape(rp.URL+"/bye")),
		chromedp.WaitVisible(chromedp.CSS(`button[value="logout"]`)))
	shot("08-logout")
	run("confirm logout", chromedp.Click(chromedp.CSS(`button[value="logout"]`)), chromedp.WaitVisible(chromedp.ID("got")))

	e.Clock.Offset = 30 * time.Second // the enrollment code's step is spent
	run("sign in with totp", chromedp.Navigate(authURL("&prompt=consent")), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "grace@globex.example"), chromedp.SendKeys(chromedp.ID("password"), apptest.NewPassword),
		chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.ID("totp")))
	shot("09-mfa")
	code, _ = totp.GenerateCode(strings.ReplaceAll(secret, " ", ""), e.Clock.Now())
	run("totp", chromedp.SendKeys(chromedp.ID("totp"), code), chromedp.Submit(chromedp.ID("totp")),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
	shot("10-consent")
	run("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.ID("got")))
	u, _ := url.Parse(location())
	resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {rp.URL + "/cb"}, "code_verifier": {"x"}}, "desk", apptest.WebSecret)
	_ = resp
	if !strings.Contains(body, "invalid_grant") && !strings.Contains(body, "invalid_request") {
		// The verifier above is deliberately wrong: the code exists and is
		// bound to its PKCE challenge.
		t.Fatalf("code exchange with a wrong verifier: %s", body)
	}

	run("error page", chromedp.Navigate(e.Issuer+"/authorize?client_id=nobody&redirect_uri=x"), chromedp.WaitVisible(chromedp.CSS("p.alert")))
	shot("11-error")
	run("forgot", chromedp.Navigate(e.Issuer+"/forgot"), chromedp.WaitVisible(chromedp.ID("email")))
	shot("12-forgot-password")
}
