package login_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/app/apptest/chrome"
	"github.com/optibid/idp/storage"
)

// TestBrowserPasskey drives real Chromium with its virtual authenticator
// (DevTools WebAuthn domain: CTAP2, internal transport, resident keys,
// user verification): a passkey is added on the account page by our
// script, and a fresh browser session signs in with it from the login
// page. Screenshots of both pages at 1280 and 390 px go to
// $OPTIBID_SCREENSHOTS (or a temporary directory).
func TestBrowserPasskey(t *testing.T) {
	t.Parallel()
	exe := chrome.Path(t)
	// WebAuthn needs a host name: the RP ID cannot be an IP address.
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	cfg := apptest.Config("http://localhost:"+port, "memory", "")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := apptest.StartOn(t, srv, cfg)
	dir := chrome.ScreenshotDir(t, true)
	ctx := chrome.Start(t, exe, chrome.Options{})
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(stepCtx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s: %.400q)", what, err, loc, page)
		}
	}
	shots := func(name string) {
		t.Helper()
		for _, width := range []int64{1280, 390} {
			run("viewport", chromedp.EmulateViewport(width, 900))
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+map[int64]string{1280: "1280", 390: "390"}[width]+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run("viewport", chromedp.EmulateViewport(1280, 900))
	}
	cdpDo := func(what string, f func(ctx context.Context, s cdp.Session) error) {
		t.Helper()
		run(what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			return chromedp.Void{}, f(ctx, tg)
		})
	}

	cdpDo("virtual authenticator", func(ctx context.Context, s cdp.Session) error {
		if _, err := cdp.Call(ctx, s, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, s, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	})

	run("account sign-in", chromedp.Navigate(e.Issuer+"/account/signin"), chromedp.WaitVisible(chromedp.CSS(`form[data-passkey=get] button`)))
	shots("passkeys-login")
	run("password", chromedp.SendKeys(chromedp.ID("email"), apptest.UserEmail), chromedp.SendKeys(chromedp.ID("password"), apptest.UserPassword),
		chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.CSS(`a[href="/account/passkeys"]`)))
	run("passkeys page", chromedp.Click(chromedp.CSS(`a[href="/account/passkeys"]`)), chromedp.WaitVisible(chromedp.ID("pkname")))
	run("add passkey", chromedp.SendKeys(chromedp.ID("pkname"), "This laptop"), chromedp.Click(chromedp.CSS(`form[data-passkey=create] button`)),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.notice"))); !strings.Contains(text, "added") {
		t.Fatalf("after adding: %q", text)
	}
	shots("passkeys-account")
	ada := e.User(apptest.UserEmail)
	ps, err := e.App.Store.PasskeysByUser(ctx, ada.ID)
	if err != nil || len(ps) != 1 || ps[0].Name != "This laptop" {
		t.Fatalf("stored passkeys: %+v %v", ps, err)
	}
	passkeyLogins := func() int {
		rows, err := e.App.Store.ListAudit(ctx, storage.AuditFilter{SubjectID: ada.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rows {
			if r.Type == "login_succeeded" && r.Details["amr"] == "hwk user mfa" {
				n++
			}
		}
		return n
	}

	// A fresh sign-in (prompt=login): the virtual authenticator answers the
	// page's conditional request (the autofill) at once.
	run("conditional sign-in", chromedp.Navigate(e.Issuer+"/account/signin?fresh=1"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/passkeys"]`)))
	if n := passkeyLogins(); n != 1 {
		t.Fatalf("passkey sign-ins after autofill: %d", n)
	}
	// Without conditional mediation, the button.
	cdpDo("no conditional mediation", func(ctx context.Context, s cdp.Session) error {
		_, err := cdp.Call(ctx, s, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`})
		return err
	})
	run("login page", chromedp.Navigate(e.Issuer+"/account/signin?fresh=1"), chromedp.WaitVisible(chromedp.CSS(`form[data-passkey=get] button`)))
	run("sign in with the button", chromedp.Click(chromedp.CSS(`form[data-passkey=get] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/passkeys"]`)))
	if n := passkeyLogins(); n != 2 {
		t.Fatalf("passkey sign-ins after the button: %d", n)
	}
}
