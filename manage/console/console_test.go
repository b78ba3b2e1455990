package console_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// pages are every organization page of the console.
var pages = []string{"", "/settings", "/domains", "/members", "/connections", "/clients", "/features", "/usage", "/audit"}

// actions are every organization action the console posts.
var actions = []string{"settings", "domain-add", "domain-verify", "domain-remove", "member-role", "member-remove", "invite",
	"invitation-revoke", "invitation-resend", "connection-create", "connection-test", "connection-enable", "connection-delete",
	"client-create", "client-rotate", "client-delete", "api-save", "api-delete", "feature-set", "feature-config", "template-apply", "branding"}

func withViewer(c *app.Config) {
	c.Bootstrap.Users = append(c.Bootstrap.Users, app.BootstrapUser{Email: "vera@example.com", Password: apptest.UserPassword,
		Name: "Vera", Organization: "acme", Role: "viewer"})
}

func signedIn(t *testing.T, e *apptest.Env, email string) *apptest.Browser {
	t.Helper()
	b := e.Browser()
	if resp, page := b.ConsoleSignIn(email, apptest.UserPassword); resp.StatusCode != http.StatusOK {
		t.Fatalf("console sign-in of %s: %d %s %.500s", email, resp.StatusCode, resp.Header.Get("Location"), page)
	}
	return b
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form token on the page: %.300s", page)
	}
	return m[1]
}

// Every console page renders for an owner, on both stores, by slug and by
// ID.
func TestConsolePagesForAnOwner(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			b := signedIn(t, e, apptest.UserEmail)
			for _, ref := range []string{"acme", e.Org("acme").ID} {
				for _, p := range pages {
					resp, page := b.Get("/console/orgs/" + ref + p)
					if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<h1>") || apptest.Leaks(page) {
						t.Fatalf("%s%s: %d %.1000s", ref, p, resp.StatusCode, page)
					}
					if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
						t.Fatalf("%s: CSP %q", p, csp)
					}
				}
			}
		})
	}
}

// Another tenant's admin gets 404 on every console URL of the first
// tenant, for pages, exports and actions alike, and changes nothing.
func TestConsoleTenantIsolation(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.Tenants)
	carol := signedIn(t, e, "carol@globex.example")
	_, own := carol.Get("/console/orgs/globex")
	csrf := csrfOf(t, own)
	for _, ref := range []string{"acme", e.Org("acme").ID, "no-such-org", "0123456789abcdef0123456789abcdef"} {
		for _, p := range append(pages, "/audit.csv", "/audit.jsonl") {
			if resp, page := carol.Get("/console/orgs/" + ref + p); resp.StatusCode != http.StatusNotFound || strings.Contains(page, "Acme") {
				t.Fatalf("carol GET %s%s: %d %.300s", ref, p, resp.StatusCode, page)
			}
		}
		for _, a := range actions {
			resp, _ := carol.Post("/console/orgs/"+ref+"/do/"+a, url.Values{"csrf": {csrf}, "name": {"Pwned"}, "domain": {"x.example"},
				"email": {"x@example.com"}, "enabled": {"true"}, "key": {"market.view"}})
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("carol POST %s %s: %d", ref, a, resp.StatusCode)
			}
		}
	}
	if o := e.Org("acme"); o.Name != "Acme Energy" {
		t.Fatalf("acme changed: %+v", o)
	}
	if resp, _ := carol.Get("/console/platform"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a tenant admin reached the platform page: %d", resp.StatusCode)
	}
}

// A viewer sees read-only pages and every change is refused by the API's
// permission check; a member cannot reach admin pages.
func TestConsoleViewerAndMember(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", withViewer)
	vera := signedIn(t, e, "vera@example.com")
	resp, page := vera.Get("/console/orgs/acme/settings")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "can read these settings but not change them") || strings.Contains(page, "Save settings") {
		t.Fatalf("viewer settings: %d %.1500s", resp.StatusCode, page)
	}
	csrf := csrfOf(t, page)
	for _, a := range actions {
		resp, page := vera.Post("/console/orgs/acme/do/"+a, url.Values{"csrf": {csrf}, "name": {"Pwned"}, "domain": {"x.example"},
			"email": {"x@example.com"}, "enabled": {"true"}, "key": {"market.view"}, "id": {"x"}, "user": {"x"}})
		if resp.StatusCode != http.StatusForbidden || apptest.Leaks(page) {
			t.Fatalf("viewer %s: %d %.500s", a, resp.StatusCode, page)
		}
	}
	if o := e.Org("acme"); o.Name != "Acme Energy" {
		t.Fatalf("a viewer renamed the organization: %+v", o)
	}
	bob := signedIn(t, e, "bob@example.com") // member
	for _, p := range []string{"/audit", "/connections"} {
		if resp, _ := bob.Get("/console/orgs/acme" + p); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("member GET %s: %d", p, resp.StatusCode)
		}
	}
}

// Forms need this session's token and a same-origin post; a tampered or
// missing session sends the person to sign in; next never leaves the
// console; a callback without its state is refused.
func TestConsoleSessionAndForms(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ada := signedIn(t, e, apptest.UserEmail)
	_, page := ada.Get("/console/orgs/acme/settings")
	csrf := csrfOf(t, page)
	rename := func(b *apptest.Browser, token string, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/console/orgs/acme/do/settings", strings.NewReader(url.Values{"csrf": {token}, "name": {"Renamed"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, _ := b.Do(req)
		return resp.StatusCode
	}
	other := signedIn(t, e, "bob@example.com")
	_, bobPage := other.Get("/console/orgs/acme")
	for name, st := range map[string]int{
		"no token":             rename(ada, "", e.Issuer),
		"another's token":      rename(ada, csrfOf(t, bobPage), e.Issuer),
		"cross-site origin":    rename(ada, csrf, "https://evil.example"),
		"token, no session":    rename(e.Browser(), csrf, e.Issuer),
		"bob with ada's token": rename(other, csrf, e.Issuer),
	} {
		if st == http.StatusSeeOther || st == http.StatusOK {
			t.Fatalf("%s: the change went through (%d)", name, st)
		}
	}
	if e.Org("acme").Name != "Acme Energy" {
		t.Fatal("a forged form renamed the organization")
	}
	if st := rename(ada, csrf, e.Issuer); st != http.StatusSeeOther || e.Org("acme").Name != "Renamed" {
		t.Fatalf("the real form: %d", st)
	}
	// Form values that would change the API path name nothing.
	for _, user := range []string{"x/../../../orgs/globex", "..", ".", "a%2Fb", "a\\b", "a?x=1"} {
		if resp, page := ada.Post("/console/orgs/acme/do/member-remove", url.Values{"csrf": {csrf}, "user": {user}}); resp.StatusCode != http.StatusNotFound || apptest.Leaks(page) {
			t.Fatalf("member-remove user=%q: %d", user, resp.StatusCode)
		}
	}
	// Open redirects: next stays on the console.
	for _, next := range []string{"https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/login"} {
		b := e.Browser()
		resp, _ := b.Get("/console/login?next=" + url.QueryEscape(next))
		resp, _ = b.Get(resp.Header.Get("Location"))
		_, login := b.Get(resp.Header.Get("Location"))
		resp, _ = b.Follow(b.SubmitLogin(login, apptest.UserEmail, apptest.UserPassword))
		if u := resp.Request.URL; u.Host != strings.TrimPrefix(e.Issuer, "http://") || !strings.HasPrefix(u.Path, "/console") {
			t.Fatalf("next=%q landed on %s", next, u)
		}
	}
	// A callback not started by this browser.
	if resp, page := e.Browser().Get("/console/callback?code=abc&state=xyz"); resp.StatusCode != http.StatusBadRequest || apptest.Leaks(page) {
		t.Fatalf("callback without state: %d", resp.StatusCode)
	}
	// A tampered session cookie is no session.
	u, _ := url.Parse(e.Issuer)
	for _, c := range ada.Client().Jar.Cookies(u) {
		if c.Name == "optibid_console" {
			c.Value = c.Value[:len(c.Value)-4] + "AAAA"
			ada.Client().Jar.SetCookies(u, []*http.Cookie{c})
		}
	}
	if resp, _ := ada.Get("/console/orgs/acme"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Fatalf("tampered session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// The access token is refreshed when it runs out; signing out revokes the
// refresh token, so the cookie is worthless afterwards.
func TestConsoleRefreshAndSignOut(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ada := signedIn(t, e, apptest.UserEmail)
	u, _ := url.Parse(e.Issuer)
	saved := ada.Client().Jar.Cookies(u)
	e.Clock.Offset = e.Cfg.Tokens.AccessTokenTTL + time.Minute
	if resp, _ := ada.Get("/console/orgs/acme"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the access token expired: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := ada.Get("/console/orgs/acme")
	// A cross-site post cannot sign anyone out.
	if resp, _ := ada.Post("/console/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign out without the form token: %d", resp.StatusCode)
	}
	if resp, _ := ada.Get("/console/orgs/acme"); resp.StatusCode != http.StatusOK {
		t.Fatalf("still signed in after a refused sign-out: %d", resp.StatusCode)
	}
	resp, _ := ada.Post("/console/logout", url.Values{"csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/end_session?") ||
		!strings.Contains(resp.Header.Get("Location"), "id_token_hint=") {
		t.Fatalf("sign out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The provider's session ends too, without a second question: the
	// next console visit asks for the password again.
	resp, _ = ada.Get(resp.Header.Get("Location"))
	if loc := resp.Header.Get("Location"); !apptest.IsRedirect(resp.StatusCode) || !strings.HasSuffix(loc, "/console") {
		t.Fatalf("end_session: %d %s", resp.StatusCode, loc)
	}
	resp, _ = ada.Get("/console/login")
	resp, _ = ada.Get(resp.Header.Get("Location"))
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login?id=") {
		t.Fatalf("after signing out, the console signed in again without a password: %d %s", resp.StatusCode, loc)
	}
	// The cookie from before the refresh, replayed, gets nothing.
	replay := e.Browser()
	replay.Client().Jar.SetCookies(u, saved)
	if resp, _ := replay.Get("/console/orgs/acme"); resp.StatusCode != http.StatusFound {
		t.Fatalf("a replayed pre-refresh cookie after sign-out: %d", resp.StatusCode)
	}
}

// The audit export is the filtered log in CSV (with values that would run
// as spreadsheet formulas defused) or JSON lines.
func TestConsoleAuditExport(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	// A user agent is attacker-chosen text that ends up in the log.
	b := e.Browser()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+"/console", nil)
	b.Do(req)
	ada := signedIn(t, e, apptest.UserEmail)
	_, page := ada.Get("/console/orgs/acme/settings")
	req, _ = http.NewRequest(http.MethodPost, e.Issuer+"/console/orgs/acme/do/settings",
		strings.NewReader(url.Values{"csrf": {csrfOf(t, page)}, "name": {"Acme Renamed"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", `=HYPERLINK("https://evil.example","x")`)
	if resp, _ := ada.Do(req); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", resp.StatusCode)
	}
	resp, csv := ada.Get("/console/orgs/acme/audit.csv?type=organization_updated")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="audit-acme.csv"`) {
		t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
	}
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "id,time,type,") || !strings.Contains(lines[1], "organization_updated") {
		t.Fatalf("csv rows: %q", csv)
	}
	if !strings.Contains(lines[1], `'=HYPERLINK`) || strings.Contains(lines[1], `,=HYPERLINK`) || strings.Contains(lines[1], `,"=HYPERLINK`) {
		t.Fatalf("a formula survived into the CSV: %q", lines[1])
	}
	resp, jl := ada.Get("/console/orgs/acme/audit.jsonl?since=1h")
	if resp.StatusCode != http.StatusOK || !strings.Contains(jl, `"type":"organization_updated"`) {
		t.Fatalf("jsonl: %d %.500s", resp.StatusCode, jl)
	}
	// A bad filter is explained on the page, not a 500.
	if resp, page := ada.Get("/console/orgs/acme/audit?since=yesterday"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "age such as") {
		t.Fatalf("bad filter: %d %.500s", resp.StatusCode, page)
	}
}

// The platform page is the operators': they create an organization with
// an owner invitation and change a plan; others get 404 and their posts
// change nothing.
func TestConsolePlatform(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) {
		c.Bootstrap.Users = append(c.Bootstrap.Users, app.BootstrapUser{Email: "olaf@optibid.example", Password: apptest.UserPassword,
			Name: "Olaf", PlatformAdmin: true})
	})
	ada := signedIn(t, e, apptest.UserEmail)
	_, page := ada.Get("/console/orgs/acme")
	for _, a := range []string{"org-create", "org-plan", "keys-rotate"} {
		resp, _ := ada.Post("/console/platform/do/"+a, url.Values{"csrf": {csrfOf(t, page)}, "org": {"acme"}, "plan": {"enterprise"},
			"slug": {"mine"}, "name": {"Mine"}, "owner_email": {apptest.UserEmail}})
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a tenant owner's %s: %d", a, resp.StatusCode)
		}
	}
	if e.Org("acme").Plan != "free" {
		t.Fatal("a tenant owner changed their own plan")
	}
	olaf := signedIn(t, e, "olaf@optibid.example")
	resp, page := olaf.Get("/console/platform")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Acme Energy") || !strings.Contains(page, "Signing keys") {
		t.Fatalf("platform: %d %.500s", resp.StatusCode, page)
	}
	csrf := csrfOf(t, page)
	resp, page = olaf.Post("/console/platform/do/org-create", url.Values{"csrf": {csrf}, "slug": {"0123456789abcdef0123456789abcdef"},
		"name": {"Hex"}, "plan": {"free"}, "owner_email": {"h@example.com"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "organization ID") {
		t.Fatalf("a slug in an ID's form: %d %.300s", resp.StatusCode, page)
	}
	resp, page = olaf.Post("/console/platform/do/org-create", url.Values{"csrf": {csrf}, "slug": {"initech"}, "name": {"Initech"},
		"plan": {"enterprise"}, "owner_email": {"peter@initech.example"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "An owner invitation went to peter@initech.example") {
		t.Fatalf("create: %d %.800s", resp.StatusCode, page)
	}
	if !strings.Contains(e.MailTo("peter@initech.example", "Initech"), "/invitations/accept?") {
		t.Fatal("no owner invitation mail")
	}
	if resp, _ := olaf.Post("/console/platform/do/org-plan", url.Values{"csrf": {csrf}, "org": {e.Org("acme").ID}, "plan": {"enterprise"}}); resp.StatusCode != http.StatusSeeOther || e.Org("acme").Plan != "enterprise" {
		t.Fatalf("plan change: %d %s", resp.StatusCode, e.Org("acme").Plan)
	}
	if resp, page := olaf.Post("/console/platform/do/keys-rotate", url.Values{"csrf": {csrf}, "alg": {"HS256"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "alg must be one of") {
		t.Fatalf("rotate an unknown algorithm: %d %.300s", resp.StatusCode, page)
	}
	if resp, _ := olaf.Post("/console/platform/do/keys-rotate", url.Values{"csrf": {csrf}, "alg": {""}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rotate: %d", resp.StatusCode)
	}
}

// Feature configuration is the operator's: the owner sees the values, the
// operator edits them, typed as they read.
func TestConsoleFeatureConfig(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.Catalogue, func(c *app.Config) {
		c.Bootstrap.Organizations[0].Plan = "professional"
		c.Bootstrap.Users = append(c.Bootstrap.Users, app.BootstrapUser{Email: "olaf@optibid.example", Password: apptest.UserPassword,
			Name: "Olaf", PlatformAdmin: true})
	})
	ada := signedIn(t, e, apptest.UserEmail)
	_, page := ada.Get("/console/orgs/acme/features")
	if !strings.Contains(page, `config {&#34;max_bid_mw&#34;:50}`) || strings.Contains(page, "Save configuration") {
		t.Fatalf("owner's features page: %.3000s", page)
	}
	if resp, _ := ada.Post("/console/orgs/acme/do/feature-config", url.Values{"csrf": {csrfOf(t, page)}, "key": {"bids.day_ahead"},
		"cfg.max_bid_mw": {"500"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the owner changed configuration: %d", resp.StatusCode)
	}
	olaf := signedIn(t, e, "olaf@optibid.example")
	_, page = olaf.Get("/console/orgs/acme/features")
	if !strings.Contains(page, "Save configuration") {
		t.Fatalf("operator's features page: %.3000s", page)
	}
	resp, _ := olaf.Post("/console/orgs/acme/do/feature-config", url.Values{"csrf": {csrfOf(t, page)}, "key": {"bids.day_ahead"},
		"cfg.max_bid_mw": {"75"}, "cfg.desk": {"north"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator's configuration: %d", resp.StatusCode)
	}
	_, page = olaf.Get("/console/orgs/acme/features")
	if !strings.Contains(page, `value="75"`) || !strings.Contains(page, `value="&#34;north&#34;"`) {
		t.Fatalf("saved configuration: %.3000s", page)
	}
}

// Branding is set in the console's settings (a logo upload becomes a data
// URL; a colour without enough contrast is refused with the reason).
func TestConsoleBranding(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ada := signedIn(t, e, apptest.UserEmail)
	_, page := ada.Get("/console/orgs/acme/settings")
	post := func(fields map[string]string, logo []byte) (*http.Response, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("csrf", csrfOf(t, page))
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if logo != nil {
			fw, _ := mw.CreateFormFile("logo", "logo.png")
			fw.Write(logo)
		}
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/console/orgs/acme/do/branding", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return ada.Do(req)
	}
	if resp, body := post(map[string]string{"display_name": "Acme", "color": "#ffd700"}, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "contrast") {
		t.Fatalf("a light colour: %d %.500s", resp.StatusCode, body)
	}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	if resp, _ := post(map[string]string{"display_name": "Acme Energy Trading", "color": "#0b6e4f", "support_url": "https://help.acme.example"}, png); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("branding: %d", resp.StatusCode)
	}
	o := e.Org("acme")
	if o.Branding.DisplayName != "Acme Energy Trading" || o.Branding.Color != "#0b6e4f" || !strings.HasPrefix(o.Branding.Logo, "data:image/png;base64,") {
		t.Fatalf("stored branding: %+v", o.Branding)
	}
	// Saving again without a file keeps the logo; removing drops it.
	_, page = ada.Get("/console/orgs/acme/settings")
	if resp, _ := post(map[string]string{"display_name": "Acme", "logo_current": o.Branding.Logo}, nil); resp.StatusCode != http.StatusSeeOther || e.Org("acme").Branding.Logo == "" {
		t.Fatalf("logo kept: %d %+v", resp.StatusCode, e.Org("acme").Branding)
	}
	if resp, _ := post(map[string]string{"logo_current": o.Branding.Logo, "logo_remove": "on"}, nil); resp.StatusCode != http.StatusSeeOther || e.Org("acme").Branding.Logo != "" {
		t.Fatalf("logo removed: %d", resp.StatusCode)
	}
	// A forged "current logo" is checked like an upload.
	if resp, _ := post(map[string]string{"logo_current": "data:text/html;base64,PHNjcmlwdD4="}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a forged logo: %d", resp.StatusCode)
	}
}

// The invite form asks for the email's language, the browser's to start
// with, and the invitation goes out in the one chosen; another value is
// refused with the API's words.
func TestConsoleInviteLanguage(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ada := signedIn(t, e, apptest.UserEmail)
	members := func(accept string) string {
		req, _ := http.NewRequest(http.MethodGet, e.Issuer+"/console/orgs/acme/members", nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, page := ada.Do(req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("members: %d", resp.StatusCode)
		}
		return page
	}
	for accept, want := range map[string]string{"": "en", "de-DE,de;q=0.9": "de", "fr": "en", "fr, de;q=0.5": "de"} {
		page := members(accept)
		if !strings.Contains(page, `<option value="`+want+`" lang="`+want+`" selected>`) || !strings.Contains(page, `<option value="de" lang="de"`) ||
			!strings.Contains(page, ">Deutsch</option>") || !strings.Contains(page, `<label for="invite-language">`) {
			t.Fatalf("Accept-Language %q: want %s chosen: %.3000s", accept, want, page)
		}
	}
	csrf := csrfOf(t, members(""))
	resp, _ := ada.Post("/console/orgs/acme/do/invite", url.Values{"csrf": {csrf}, "email": {"dave@example.com"}, "role": {"member"}, "language": {"de"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite: %d", resp.StatusCode)
	}
	if mail := e.MailTo("dave@example.com", "Treten Sie"); !strings.Contains(mail, "hat Sie eingeladen") || !strings.Contains(mail, "als Mitglied beizutreten") {
		t.Fatalf("German invitation: %s", mail)
	}
	resp, page := ada.Post("/console/orgs/acme/do/invite", url.Values{"csrf": {csrf}, "email": {"erin@example.com"}, "language": {"fr"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "language: must be one of en, de.") {
		t.Fatalf("unknown language: %d %.2000s", resp.StatusCode, page)
	}
}
