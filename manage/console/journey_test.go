package console_test

import (
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/app/apptest/chrome"
	"github.com/optibid/idp/federation/oidc/oidctest"
	"github.com/optibid/idp/storage"
)

// axe is axe-core (MPL-2.0, testdata/axe.LICENSE), the accessibility
// engine the journey runs on every console page.
//
//go:embed testdata/axe.min.js
var axe string

// journey is one Chromium driven through the console.
type journey struct {
	t   *testing.T
	e   *apptest.Env
	ctx context.Context
	dir string // screenshots ("" for none)
}

func (j *journey) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(j.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body, _ := chromedp.Run(j.ctx, chromedp.Text(chromedp.CSS("body")))
		loc, _ := chromedp.Run(j.ctx, chromedp.Location())
		j.t.Fatalf("%s: %v (at %s: %.400q)", what, err, loc, body)
	}
}

func (j *journey) text() string {
	j.t.Helper()
	var err error
	for range 5 { // a node can vanish while a page settles: read again
		var s string
		if s, err = chromedp.Run(j.ctx, chromedp.Text(chromedp.CSS("body"))); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	j.t.Fatalf("page text: %v", err)
	return ""
}

func (j *journey) location() string {
	s, _ := chromedp.Run(j.ctx, chromedp.Location())
	return s
}

// open navigates to a path of the provider and waits for the page.
func (j *journey) open(path string) {
	j.t.Helper()
	j.run("open "+path, chromedp.Navigate(j.e.Issuer+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// want fails unless the page says s.
func (j *journey) want(s string) {
	j.t.Helper()
	if txt := j.text(); !strings.Contains(txt, s) {
		j.t.Fatalf("at %s: want %q in %.1500q", j.location(), s, txt)
	}
}

// submit fills fields (CSS selector → value) and clicks button.
func (j *journey) submit(what string, fields map[string]string, button string) {
	j.t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		acts = append(acts, chromedp.SetValue(chromedp.CSS(sel), v))
	}
	j.run(what, acts...)
	j.click(what, button)
}

// click clicks sel and waits until the page it leads to has loaded: the
// old page is marked, and the wait ends when an unmarked page is
// complete (a wait on an element could match the old page).
func (j *journey) click(what, sel string) {
	j.t.Helper()
	j.run(what+": mark", chromedp.Evaluate[chromedp.Void](`window.__old = true`), chromedp.Click(chromedp.CSS(sel)))
	for range 200 {
		ready, err := chromedp.Run(j.ctx, chromedp.Evaluate[bool](`window.__old === undefined && document.readyState === "complete"`))
		if err == nil && ready {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	j.t.Fatalf("%s: no new page after clicking %s (at %s)", what, sel, j.location())
}

// signIn signs in on the login page the browser is on.
func (j *journey) signIn(email, pw string) {
	j.t.Helper()
	j.submit("sign in as "+email, map[string]string{"#email": email, "#password": pw}, "button[type=submit]")
}

// signOut forgets every cookie: the next person uses the same browser.
func (j *journey) signOut() {
	j.t.Helper()
	j.run("clear cookies", func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, network.ClearBrowserCookies, cdp.Empty{})
		return chromedp.Void{}, err
	})
}

// check runs axe-core on the page (WCAG 2 A and AA) and saves its
// screenshots at desktop and phone width.
func (j *journey) check(name string) {
	j.t.Helper()
	violations, err := chromedp.Run(j.ctx, chromedp.Evaluate[string](axe+`;
		new Promise(done => axe.run(document, {runOnly: ["wcag2a", "wcag2aa"]}).then(r =>
			done(r.violations.map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ")).join("\n"))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		j.t.Fatalf("axe on %s: %v", name, err)
	}
	if violations != "" {
		j.t.Errorf("%s (%s): accessibility violations:\n%s", name, j.location(), violations)
	}
	if j.dir == "" {
		return
	}
	for _, w := range []int64{1280, 390} {
		j.run("viewport", chromedp.EmulateViewport(w, 900))
		png, err := chromedp.Run(j.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			j.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(j.dir, fmt.Sprintf("console-%s-%d.png", name, w)), png, 0o644); err != nil {
			j.t.Fatal(err)
		}
	}
	j.run("desktop width", chromedp.EmulateViewport(1280, 900))
}

func withOperator(c *app.Config) {
	c.Bootstrap.Users = append(c.Bootstrap.Users, app.BootstrapUser{Email: "olaf@optibid.example", Password: apptest.UserPassword,
		Name: "Olaf Operator", PlatformAdmin: true})
}

// TestConsoleJourney drives real Chromium through onboarding a customer
// on each store: an operator creates an organization and invites its
// owner; the owner registers through the invitation link, confirms the
// address and accepts; verifies a domain, adds an SSO connection and tests
// it against an upstream, registers a client, turns on features in
// dependency order, invites a member who accepts; the member (a viewer)
// can change nothing; another tenant's admin gets 404 on every console URL
// of the first. Every page passes axe-core; on memory, screenshots at 1280
// and 390 px go to $OPTIBID_SCREENSHOTS (e.g. docs/screenshots).
func TestConsoleJourney(t *testing.T) {
	t.Parallel()
	exe := chrome.Path(t)
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, apptest.Tenants, apptest.Catalogue, withOperator)
			upstream := oidctest.New(t)
			dir := ""
			if backend == "memory" {
				dir = chrome.ScreenshotDir(t, false)
			}
			ctx := chrome.Start(t, exe, chrome.Options{Timeout: 4 * time.Minute})
			j := &journey{t: t, e: e, ctx: ctx, dir: dir}

			// 1. The operator creates the organization; its owner is invited.
			j.open("/console")
			j.signIn("olaf@optibid.example", apptest.UserPassword)
			j.want("Platform administration")
			j.check("home")
			j.open("/console/platform")
			j.submit("create organization", map[string]string{"#org-name": "Volt Trading", "#slug": "volt", "#owner_email": "olga@volt.example",
				"#plan": "professional"},
				"form[action$='org-create'] button")
			j.want("An owner invitation went to olga@volt.example")
			j.check("platform")
			link := apptest.LinkIn(t, e.MailTo("olga@volt.example", "Volt Trading"))

			// 2. The owner registers from the link, confirms, and accepts.
			j.signOut()
			j.run("open invitation", chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS("body")))
			j.want("Join Volt Trading")
			j.check("invitation")
			j.click("register link", "a.button.secondary")
			j.submit("register", map[string]string{"#name": "Olga Owner", "#password": "volt owner passphrase 2026"}, "button[type=submit]")
			j.want("Check your email")
			j.run("open the confirmation link", chromedp.Navigate(apptest.LinkIn(t, e.MailTo("olga@volt.example", "onfirm"))), chromedp.WaitReady(chromedp.CSS("body")))
			j.click("confirm email", `form[action="/verify-email"] button`)
			j.run("back to the invitation", chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS("body")))
			j.click("sign in to accept", "a.button")
			j.signIn("olga@volt.example", "volt owner passphrase 2026")
			j.want("Signed in as olga@volt.example")
			j.click("accept", "form[action='/invitations/accept'] button")
			if loc := j.location(); !strings.HasSuffix(loc, "/console/orgs/volt") {
				t.Fatalf("after accepting: %s", loc)
			}
			j.want("your role: owner")
			volt, err := e.App.Store.OrganizationBySlug(t.Context(), "volt")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 14 {
				_ = e.App.Store.RecordUsage(t.Context(), storage.UsageCount{OrgID: volt.ID, FeatureKey: "market.view",
					Day: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -i), Count: int64(5 + i*i%23)})
			}

			// 3. Domain: add, publish the TXT record it shows, verify.
			j.open("/console/orgs/volt/domains")
			j.submit("add domain", map[string]string{"#domain": "volt.example"}, "form[action$='domain-add'] button")
			j.want("publish the TXT record")
			value, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#txt-0")))
			if err != nil || !strings.HasPrefix(value, "optibid-domain-verification=") {
				t.Fatalf("TXT value: %q %v", value, err)
			}
			e.DNS.Publish("_optibid-verification.volt.example", value)
			j.click("verify", "form[action$='domain-verify'] button")
			j.want("Domain verified.")
			j.check("domains")

			// 4. SSO: the redirect URI to register, a connection, its test.
			j.open("/console/orgs/volt/connections")
			if cb, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#callback"))); cb != e.Issuer+"/federation/callback" {
				t.Fatalf("redirect URI shown: %q", cb)
			}
			j.run("choose OIDC", chromedp.SetValue(chromedp.CSS("#conn-type"), "oidc"))
			j.submit("add connection", map[string]string{"#oidc-issuer": upstream.URL, "#conn-name": "Volt SSO", "#client_id": upstream.ClientID,
				"#client_secret": upstream.ClientSecret}, "form[action$='connection-create'] button")
			j.want("Connection added")
			j.click("test", "form[action$='connection-test'] button")
			j.want("discovery and signing keys are usable")
			j.want(upstream.URL + "/keys")
			j.check("connections")

			// 5. An application: the secret is shown once.
			j.open("/console/orgs/volt/clients")
			j.submit("register client", map[string]string{"#client-name": "Volt Desk", "#redirect_uris": "https://desk.volt.example/callback"},
				"form[action$='client-create'] button")
			j.want("This is the only time the secret is shown")
			secret, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#secret")))
			if len(secret) < 32 {
				t.Fatalf("secret shown: %q", secret)
			}
			j.submit("register an API", map[string]string{"#api-identifier": "https://api.volt.example/reports", "#api-name": "Volt Reports",
				"#api-scopes": "reports:read See reports"}, "form[action$='api-save'] button")
			j.want("API saved.")
			j.want("reports:read")
			j.check("clients")

			// 6. Features: what a click would also change, and what stands
			// in its way, is shown before the click.
			click := func(key string) {
				t.Helper()
				j.click("toggle "+key, `form:has(input[value='`+key+`']) button`)
			}
			j.open("/console/orgs/volt/features")
			j.want("Not in the professional plan") // report export: the operator's to give
			j.want("Day-ahead bidding needs it: turning it off turns that off too.")
			click("market.view")
			j.want("Needs Market view: turn it on first.")
			if dis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("form:has(input[value='bids.day_ahead']) button").disabled`)); !dis {
				t.Fatal("day-ahead bidding can be clicked on while market view is off")
			}
			click("market.view")
			click("bids.day_ahead")
			j.want("Feature updated.")
			j.open("/console/orgs/volt")
			j.want("Market view")
			j.want("Day-ahead bidding")
			j.open("/console/orgs/volt/features")
			j.check("features")
			for _, p := range []string{"", "/settings", "/usage", "/audit"} {
				j.open("/console/orgs/volt" + p)
				name := strings.TrimPrefix(p, "/")
				if name == "" {
					name = "overview"
				}
				j.check(name)
			}

			// 7. A member (viewer) is invited and accepts.
			j.open("/console/orgs/volt/members")
			j.submit("invite", map[string]string{"#email": "dave@example.com", "#invite-role": "viewer"}, "form[action$='/invite'] button")
			j.want("Invitation sent.")
			j.want("dave@example.com")
			j.check("members")
			daveLink := apptest.LinkIn(t, e.MailTo("dave@example.com", "Volt Trading"))
			j.signOut()
			j.run("dave opens the link", chromedp.Navigate(daveLink), chromedp.WaitReady(chromedp.CSS("body")))
			j.click("sign in to accept", "a.button")
			j.signIn("dave@example.com", apptest.UserPassword)
			j.click("accept", "form[action='/invitations/accept'] button")
			j.want("your role: viewer")

			// 8. The viewer sees and changes nothing: no change forms at all.
			for _, p := range []string{"", "/settings", "/domains", "/members", "/clients", "/features", "/usage"} {
				j.open("/console/orgs/volt" + p)
				n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[method=post]:not([action='/console/logout'])").length`))
				if err != nil || n != 0 {
					t.Fatalf("viewer on %s: %d change forms (%v)", p, n, err)
				}
			}

			// 9. Another tenant's owner: 404 on every console URL of volt.
			j.signOut()
			j.open("/console")
			j.signIn("carol@globex.example", apptest.UserPassword)
			for _, ref := range []string{"volt", volt.ID} {
				for _, p := range append(pages, "/audit.csv", "/audit.jsonl") {
					j.open("/console/orgs/" + ref + p)
					if txt := j.text(); !strings.Contains(txt, "There is nothing here") || strings.Contains(txt, "Volt") {
						t.Fatalf("carol at %s%s: %.300q", ref, p, txt)
					}
				}
			}
			j.open("/console/orgs/" + url.PathEscape("globex"))
			j.want("Globex")
		})
	}
}
