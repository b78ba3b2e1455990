package federation_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage/postgres/pgtest"

	"github.com/optibid/idp/storage"
)

const fedSecret = "federation-secret-0123456789abcdefghijklm"

// federatedPair starts an upstream provider (our own, on "localhost", so its
// cookies stay apart from the downstream's on 127.0.0.1) and a downstream
// provider with a connection "up" to it, owned by organization acme.
func federatedPair(t *testing.T, store string, mutate ...func(*app.Config)) (up, down *apptest.Env) {
	t.Helper()
	up = apptest.New(t, "memory", func(c *app.Config) {
		// Served as http://localhost:port, so its cookies stay apart.
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		c.Bootstrap.Users = append(c.Bootstrap.Users, app.BootstrapUser{Email: "eve@upstream.example", Password: apptest.UserPassword, Name: "Eve Upstream", Role: "member"})
	})
	srv := httptest.NewUnstartedServer(nil)
	downIssuer := "http://" + srv.Listener.Addr().String()
	if _, err := up.App.Store.UpsertClient(context.Background(), storage.Client{ID: "down", Name: "Downstream", FirstParty: true, SecretHash: storage.HashSecret(fedSecret),
		RedirectURIs: []string{downIssuer + "/federation/callback"}, GrantTypes: []string{"authorization_code"}, Scopes: []string{"groups"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	cfg := apptest.Config(downIssuer, store, dsn)
	cfg.Federation.Connections = []app.ConnectionConfig{{ID: "up", Type: "oidc", Name: "Upstream Corp", Organization: "acme", Issuer: up.Issuer,
		ClientID: "down", ClientSecret: fedSecret, RoleMapping: map[string]string{"idp-admins": "admin"}}}
	for _, m := range mutate {
		m(cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	down = apptest.StartOn(t, srv, cfg)
	// acme's IdP speaks for acme's verified domains only: eve's domain is one.
	acme, _ := down.App.Store.OrganizationBySlug(context.Background(), "acme")
	if err := down.App.Store.AddDomain(context.Background(), storage.OrganizationDomain{OrgID: acme.ID, Domain: "upstream.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	return up, down
}

// walk follows redirects across the two providers (resolving relative
// locations) and returns the first response that leaves them, with the
// URLs it visited.
func walk(t testing.TB, b *apptest.Browser, resp *http.Response, hosts ...string) (*http.Response, string, []string) {
	t.Helper()
	var visited []string
	body := ""
	for i := 0; i < 20 && apptest.IsRedirect(resp.StatusCode); i++ {
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		ours := false
		for _, h := range hosts {
			ours = ours || loc.Host == h
		}
		if !ours {
			return resp, body, visited
		}
		visited = append(visited, loc.String())
		req, _ := http.NewRequest(http.MethodGet, loc.String(), nil)
		r, err := b.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(r.Body)
		r.Body.Close()
		resp, body = r, string(raw)
	}
	return resp, body, visited
}

func hostOf(issuer string) string { u, _ := url.Parse(issuer); return u.Host }

// federatedLogin signs in upstream as email and returns the final
// response (a redirect to the client, or an error page) and the visited URLs.
//
// The connection belongs to acme, so the request names acme: an
// organization's button is shown only to requests for it.
func federatedLogin(t *testing.T, up, down *apptest.Env, b *apptest.Browser, authURL, email string) (*http.Response, string, []string) {
	t.Helper()
	if !strings.Contains(authURL, "organization=") {
		authURL += "&organization=acme"
	}
	_, page := b.Authorize(authURL)
	id := apptest.Hidden(page).Get("id")
	if !strings.Contains(page, "/login/federated/up?id="+id) {
		t.Fatalf("no button for the connection: %.400s", page)
	}
	resp, _ := b.Get("/login/federated/up?id=" + id)
	hosts := []string{hostOf(up.Issuer), hostOf(down.Issuer)}
	resp, page, visited := walk(t, b, resp, hosts...)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("upstream login page: %d %.300s", resp.StatusCode, page)
	}
	resp, _ = b.As(up).SubmitLogin(page, email, apptest.UserPassword)
	resp, body, more := walk(t, b, resp, hosts...)
	return resp, body, append(visited, more...)
}

// Sign in through an upstream OP: JIT provisioning, amr fed, a second
// login reuses the link; state, browser and replay rules hold (CHECKS 60).
func TestFederatedLogin(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			up, down := federatedPair(t, backend)
			ctx := context.Background()
			b := down.Browser()
			verifier, ch := apptest.PKCE()
			auth := down.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"})
			resp, body, visited := federatedLogin(t, up, down, b, auth, "eve@upstream.example")
			tok := down.TokensFrom(b.ClientRedirect(resp, body), verifier)
			c := apptest.Claims(t, tok.IDToken)
			if c["email"] != "eve@upstream.example" || c["amr"].([]any)[0] != "fed" {
				t.Fatalf("claims %v", c)
			}
			eve, err := down.App.Store.UserByEmail(ctx, "eve@upstream.example")
			if err != nil || eve.PasswordHash != "" || c["sub"] != eve.ID {
				t.Fatalf("JIT user %+v %v", eve, err)
			}
			acme, _ := down.App.Store.OrganizationBySlug(ctx, "acme")
			if ms, _ := down.App.Store.MembershipsByUser(ctx, eve.ID); len(ms) != 1 || ms[0].OrgID != acme.ID || ms[0].Role != "member" {
				t.Fatalf("membership %+v", ms)
			}
			// The callback cannot be replayed.
			var callback string
			for _, v := range visited {
				if strings.Contains(v, "/federation/callback") {
					callback = v
				}
			}
			if resp, _ := b.Get(callback); resp.StatusCode != 400 {
				t.Fatalf("replayed state: %d", resp.StatusCode)
			}
			// A second login reuses the link (no second user) and refreshes
			// the profile from the upstream.
			upEve := up.User("eve@upstream.example")
			if err := up.App.Store.UpdateProfile(ctx, upEve.ID, "Eve Renamed", true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			b2 := down.Browser()
			resp, body, _ = federatedLogin(t, up, down, b2, down.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}), "eve@upstream.example")
			if u := b2.ClientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("second login: %s", u)
			}
			if got := down.User("eve@upstream.example"); got.Name != "Eve Renamed" {
				t.Fatalf("profile not refreshed: %q", got.Name)
			}
			if evs, _ := down.App.Store.ListAudit(ctx, storage.AuditFilter{Type: "user_provisioned"}); len(evs) != 1 {
				t.Fatalf("provisioned %d times", len(evs))
			}
			// Tampered state, and a state from another browser.
			if resp, _ := b.Get("/federation/callback?state=forged&code=x"); resp.StatusCode != 400 {
				t.Fatalf("tampered state: %d", resp.StatusCode)
			}
			a := down.Browser()
			_, page := a.Authorize(down.AuthURL(map[string]string{"organization": "acme"}))
			resp, _ = a.Get("/login/federated/up?id=" + apptest.Hidden(page).Get("id"))
			start, _ := url.Parse(resp.Header.Get("Location"))
			if resp, _ := down.Browser().Get("/federation/callback?code=x&state=" + url.QueryEscape(start.Query().Get("state"))); resp.StatusCode != 403 {
				t.Fatalf("state from another browser: %d", resp.StatusCode)
			}
		})
	}
}

// CHECKS 61, 73: an organization's IdP links an existing account on its
// email alone only when the connection asks for it and the operator
// allowed it, the upstream verified the email, its domain is verified by
// the connection's organization, and the account belongs to that
// organization only, within the connection's role ceiling (an admin's IdP
// cannot take over the owner). A link made on email ends at password reset.
func TestFederatedLinking(t *testing.T) {
	t.Parallel()
	up, down := federatedPair(t, "memory")
	ctx := context.Background()
	try := func(email string) (*http.Response, string) {
		b := down.Browser()
		resp, body, _ := federatedLogin(t, up, down, b, down.AuthURL(nil), email) // ada and bob exist on both sides
		return resp, body
	}
	if resp, body := try("bob@example.com"); resp.StatusCode != 409 || !strings.Contains(body, "already exists") {
		t.Fatalf("link without permission: %d", resp.StatusCode)
	}
	conn, _ := down.App.Store.ConnectionByID(ctx, "up")
	conn.LinkByEmail, conn.AllowEmailLinking = true, false // the organization asks, the operator has not allowed
	if err := down.App.Store.UpsertConnection(ctx, conn, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	acme, _ := down.App.Store.OrganizationBySlug(ctx, "acme")
	if err := down.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "example.com", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := try("bob@example.com"); resp.StatusCode != 409 {
		t.Fatalf("link without the operator's permission: %d", resp.StatusCode)
	}
	conn.AllowEmailLinking = true
	if err := down.App.Store.UpsertConnection(ctx, conn, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// The owner is above the connection's ceiling (admin): never linked.
	if resp, _ := try(apptest.UserEmail); resp.StatusCode != 409 {
		t.Fatalf("an IdP took over the owner's account: %d", resp.StatusCode)
	}
	// Unverified upstream email: never linked.
	bobUp := up.User("bob@example.com")
	if err := up.App.Store.UpdateProfile(ctx, bobUp.ID, "Bob", false, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := try("bob@example.com"); resp.StatusCode != 409 {
		t.Fatalf("unverified email linked: %d", resp.StatusCode)
	}
	if err := up.App.Store.UpdateProfile(ctx, bobUp.ID, "Bob", true, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// Everything holds: the member's account is linked, once.
	resp, body := try("bob@example.com")
	if u := down.Browser().ClientRedirect(resp, body); u.Query().Get("code") == "" {
		t.Fatalf("verified link: %s", u)
	}
	bob := down.User("bob@example.com")
	link, err := down.App.Store.IdentityByUpstream(ctx, "up", up.Issuer, bobUp.ID)
	if err != nil || link.UserID != bob.ID || !link.LinkedByEmail {
		t.Fatalf("link %+v %v", link, err)
	}
	// A password reset ends the link made on email.
	b := down.Browser()
	_, page := b.Get("/forgot")
	b.Fill(page, "/forgot", map[string]string{"email": "bob@example.com"})
	_, page = b.Get(apptest.LinkIn(t, down.MailTo("bob@example.com", "Reset")))
	if resp, _ := b.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword}); resp.StatusCode != 200 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if _, err := down.App.Store.IdentityByUpstream(ctx, "up", up.Issuer, bobUp.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the email link survived the password reset: %v", err)
	}
}

// Home-realm discovery, MFA after federation, disabled connections and a
// down upstream (CHECKS 62, F8).
func TestFederationRules(t *testing.T) {
	t.Parallel()
	up, down := federatedPair(t, "memory")
	ctx := context.Background()
	acme, _ := down.App.Store.OrganizationBySlug(ctx, "acme")
	if err := down.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "upstream.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	b := down.Browser()
	_, page := b.Authorize(down.AuthURL(nil))
	resp, _ := b.SubmitLogin(page, "eve@upstream.example", "")
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/federated/up?id=") || !strings.Contains(loc, "hint=eve%40upstream.example") {
		t.Fatalf("home-realm discovery: %d %s", resp.StatusCode, loc)
	}
	hb := down.Browser()
	resp, _ = hb.Get(down.AuthURL(map[string]string{"login_hint": "eve@upstream.example"}))
	resp, _ = hb.Get(resp.Header.Get("Location"))
	if !strings.HasPrefix(resp.Header.Get("Location"), "/login/federated/up?id=") {
		t.Fatalf("login_hint home realm: %s", resp.Header.Get("Location"))
	}

	// The organization requires MFA and the upstream shows none: enroll.
	if err := down.App.Store.SetMFAPolicy(ctx, acme.ID, "required", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	mb := down.Browser()
	resp, page, _ = federatedLoginByButton(t, up, down, mb)
	if !strings.Contains(page, "Set up two-step verification") {
		t.Fatalf("MFA after federation: %d %.200s", resp.StatusCode, page)
	}

	// A disabled connection neither starts nor finishes a login.
	db := down.Browser()
	_, page = db.Authorize(down.AuthURL(map[string]string{"organization": "acme"}))
	resp, _ = db.Get("/login/federated/up?id=" + apptest.Hidden(page).Get("id"))
	state, _ := url.Parse(resp.Header.Get("Location"))
	conn, _ := down.App.Store.ConnectionByID(ctx, "up")
	conn.Enabled = false
	if err := down.App.Store.UpsertConnection(ctx, conn, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := db.Get("/federation/callback?code=x&state=" + url.QueryEscape(state.Query().Get("state"))); resp.StatusCode != 403 {
		t.Fatalf("callback on a disabled connection: %d", resp.StatusCode)
	}
	if resp, _ := db.Get("/login/federated/up?id=" + apptest.Hidden(page).Get("id")); resp.StatusCode != 400 {
		t.Fatalf("start on a disabled connection: %d", resp.StatusCode)
	}

	// Upstream down: a friendly error, and local login still works.
	if err := down.App.Store.SetMFAPolicy(ctx, acme.ID, "optional", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	conn.Enabled = true
	down.App.Store.UpsertConnection(ctx, conn, storage.AuditEvent{})
	up.Srv.Close()
	xb := down.Browser()
	_, page = xb.Authorize(down.AuthURL(map[string]string{"organization": "acme"}))
	start := time.Now()
	resp, body := xb.Get("/login/federated/up?id=" + apptest.Hidden(page).Get("id"))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "not responding") || time.Since(start) > 5*time.Second {
		t.Fatalf("upstream down: %d after %v", resp.StatusCode, time.Since(start))
	}
	if u := down.Browser().Login(down.AuthURL(map[string]string{"client_id": "web2", "redirect_uri": "https://other.example/cb"}), "bob@example.com", apptest.UserPassword); u.Query().Get("code") == "" {
		t.Fatal("local login broken while the upstream is down")
	}
	if evs, _ := down.App.Store.ListAudit(ctx, storage.AuditFilter{Type: "federation_failed"}); len(evs) < 3 {
		t.Fatalf("federation failures audited: %d", len(evs))
	}
}

func federatedLoginByButton(t *testing.T, up, down *apptest.Env, b *apptest.Browser) (*http.Response, string, []string) {
	return federatedLogin(t, up, down, b, down.AuthURL(nil), "eve@upstream.example")
}

// CHECKS 64: with the egress guard on (the default), an upstream on an
// internal address is never contacted.
func TestFederationEgressGuard(t *testing.T) {
	t.Parallel()
	up, down := federatedPair(t, "memory", func(c *app.Config) { c.Federation.AllowPrivateNetworks = false })
	b := down.Browser()
	_, page := b.Authorize(down.AuthURL(map[string]string{"organization": "acme"}))
	resp, body := b.Get("/login/federated/up?id=" + apptest.Hidden(page).Get("id"))
	if resp.StatusCode != http.StatusBadGateway || apptest.Leaks(body) {
		t.Fatalf("internal upstream: %d", resp.StatusCode)
	}
	_, metrics := up.Browser().Get("/metrics")
	if strings.Contains(metrics, `route="/.well-known/openid-configuration"`) {
		t.Fatal("the upstream was contacted")
	}
}

// An organization's SSO button appears only on sign-ins for it (its own
// clients, or organization=<slug>), never on other tenants' pages.
func TestOrganizationButtonsStayWithTheirOrganization(t *testing.T) {
	t.Parallel()
	up, down := federatedPair(t, "memory")
	b := down.Browser()
	if _, page := b.Authorize(down.AuthURL(nil)); strings.Contains(page, "/login/federated/up") {
		t.Fatal("acme's IdP button on a platform client's sign-in page")
	}
	if _, page := b.Authorize(down.AuthURL(map[string]string{"organization": "acme"})); !strings.Contains(page, "/login/federated/up") {
		t.Fatal("no button on a sign-in naming acme")
	}
	// Nor can a link force it: the connection parameter, or the start URL,
	// for a sign-in that is not acme's.
	resp, _ := b.Get(down.AuthURL(map[string]string{"connection": "up"}))
	resp, _ = b.Follow(b.Get(resp.Header.Get("Location")))
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Location"), hostOf(up.Issuer)) {
		t.Fatalf("a link forced acme's IdP onto another sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	acme, _ := down.App.Store.OrganizationBySlug(context.Background(), "acme")
	if _, err := down.App.Store.UpsertClient(context.Background(), storage.Client{ID: "acme-app", OrgID: acme.ID, Name: "Acme App",
		SecretHash: storage.HashSecret(apptest.WebSecret), RedirectURIs: []string{apptest.RPCallback}, GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if _, page := b.Authorize(down.AuthURL(map[string]string{"client_id": "acme-app", "scope": "openid"})); !strings.Contains(page, "/login/federated/up") {
		t.Fatal("no button on acme's own client's sign-in page")
	}
}
