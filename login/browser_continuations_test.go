package login_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/app/apptest/chrome"
	"github.com/optibid/idp/storage"
)

// TestBrowserContinuations drives real Chromium through the journeys that
// used to lose the application, each started by the application and
// ending back in it with a code, nothing typed twice: forgot → reset;
// register → confirm; remembered consent (asked once, skipped the second
// time, asked again after "Disconnect" on the account page); and an
// organization that requires a passkey, where a member without one adds
// it with Chromium's virtual authenticator during the sign-in and uses it.
func TestBrowserContinuations(t *testing.T) {
	t.Parallel()
	exe := chrome.Path(t)
	e, rp := screensEnv(t)
	if _, err := e.App.Store.UpsertClient(t.Context(), storage.Client{ID: "partner", Name: "Partner Analytics",
		RedirectURIs: []string{rp + "/cb"}, GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	b := newTab(t, exe, "en")
	authURL := func(client string, extra ...string) string {
		_, ch := apptest.PKCE()
		q := url.Values{"client_id": {client}, "redirect_uri": {rp + "/cb"}, "response_type": {"code"}, "scope": {"openid email profile"},
			"state": {"s1"}, "code_challenge": {ch}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return e.Issuer + "/authorize?" + q.Encode()
	}
	// backInTheApp waits for the relying party's page and checks that it
	// got a code.
	backInTheApp := func(what string) {
		t.Helper()
		b.run(what, chromedp.WaitVisible(chromedp.ID("got")))
		if got := b.text(what, chromedp.Text(chromedp.ID("got"))); !strings.Contains(got, "code=") {
			b.failf("%s: the application got %q", what, got)
		}
	}
	signIn := func(email, pw string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.Submit(chromedp.ID("password")))
	}

	// Forgot → reset: the new password signs dave in to the application.
	b.open(authURL("desk"))
	b.load("forgot password?", chromedp.Click(chromedp.CSS(`a[href^="/forgot"]`)))
	b.load("send the link", chromedp.SendKeys(chromedp.ID("email"), "dave@example.com"), chromedp.Submit(chromedp.ID("email")))
	b.open(apptest.LinkIn(t, newestMail(t, e, "dave@example.com")))
	b.load("new password", chromedp.SendKeys(chromedp.ID("password"), "copper tundra whistle beacon"), chromedp.Submit(chromedp.ID("password")))
	backInTheApp("after the reset")

	// Register → confirm: the new account lands in the application.
	b.open(authURL("desk", "prompt", "login"))
	b.load("create an account", chromedp.Click(chromedp.CSS(`a[href^="/register"]`)))
	b.load("register", chromedp.SendKeys(chromedp.ID("name"), "Hedy Lamarr"), chromedp.SendKeys(chromedp.ID("email"), "hedy@lamarr.example"),
		chromedp.SendKeys(chromedp.ID("password"), "frequency hopping spread spectrum"), chromedp.Submit(chromedp.ID("password")))
	b.open(apptest.LinkIn(t, newestMail(t, e, "hedy@lamarr.example")))
	b.load("confirm", chromedp.Click(chromedp.CSS(`form[action="/verify-email"] button`)))
	backInTheApp("after confirming the address")

	// Remembered consent: asked once, not the second time, asked again
	// after the person disconnected the application.
	b.open(authURL("partner"))
	b.load("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
	backInTheApp("after consenting")
	b.open(authURL("partner"))
	backInTheApp("the second sign-in, without asking")
	b.open(e.Issuer + "/account")
	b.load("disconnect", chromedp.Click(chromedp.CSS(`form[action="/account/apps/disconnect"] button`)))
	b.open(authURL("partner"))
	b.run("asked again", chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))

	// A passkey is required: frida has none, adds one during the sign-in
	// (the virtual authenticator answers), uses it, and is in.
	b.run("virtual authenticator", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return chromedp.Void{}, err
	})
	b.open(authURL("desk", "prompt", "login"))
	b.load("frida's password", signIn("frida@umbrella.example", apptest.UserPassword))
	b.run("the passkey step", chromedp.WaitVisible(chromedp.ID("pkname")))
	b.load("add the passkey", chromedp.SendKeys(chromedp.ID("pkname"), "Work laptop"), chromedp.Click(chromedp.CSS(`form[data-passkey=create] button`)))
	b.load("use it", chromedp.Click(chromedp.CSS(`form[data-passkey=get] button`)))
	backInTheApp("after the passkey")
	frida := e.User("frida@umbrella.example")
	if ps, err := e.App.Store.PasskeysByUser(t.Context(), frida.ID); err != nil || len(ps) != 1 || ps[0].Name != "Work laptop" {
		t.Fatalf("frida's passkeys: %+v %v", ps, err)
	}
	rows, err := e.App.Store.ListAudit(t.Context(), storage.AuditFilter{SubjectID: frida.ID, Type: "login_succeeded", Limit: 10})
	if err != nil || len(rows) != 1 || !strings.Contains(rows[0].Details["amr"], "hwk") {
		t.Fatalf("frida's sign-ins: %+v %v", rows, err)
	}
}
