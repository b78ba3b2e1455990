package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/federation/oidc/oidctest"

	"github.com/optibid/idp/storage"
)

const fedSecret = "federation-secret-0123456789abcdefghijklm"

// federatedPair starts an upstream provider (our own, on "localhost", so its
// cookies stay apart from the downstream's on 127.0.0.1) and a downstream
// provider with a connection "up" to it, owned by organization acme.
func federatedPair(t *testing.T, store string, mutate ...func(*Config)) (up, down *env) {
	t.Helper()
	up = newEnv(t, "memory", func(c *Config) {
		// Served as http://localhost:port, so its cookies stay apart.
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		c.Bootstrap.Users = append(c.Bootstrap.Users, BootstrapUser{Email: "eve@upstream.example", Password: userPassword, Name: "Eve Upstream", Role: "member"})
	})
	srv := httptestUnstarted()
	downIssuer := "http://" + srv.Listener.Addr().String()
	if _, err := up.app.Store.UpsertClient(context.Background(), storage.Client{ID: "down", Name: "Downstream", FirstParty: true, SecretHash: storage.HashSecret(fedSecret),
		RedirectURIs: []string{downIssuer + "/federation/callback"}, GrantTypes: []string{"authorization_code"}, Scopes: []string{"groups"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	dsn := ""
	if store == "postgres" {
		dsn = pgtestDSN(t)
	}
	cfg := testConfig(downIssuer, store, dsn)
	cfg.Federation.Connections = []ConnectionConfig{{ID: "up", Type: "oidc", Name: "Upstream Corp", Organization: "acme", Issuer: up.issuer,
		ClientID: "down", ClientSecret: fedSecret, RoleMapping: map[string]string{"idp-admins": "admin"}}}
	for _, m := range mutate {
		m(cfg)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	down = startOn(t, srv, cfg)
	// acme's IdP speaks for acme's verified domains only: eve's domain is one.
	acme, _ := down.app.Store.OrganizationBySlug(context.Background(), "acme")
	if err := down.app.Store.AddDomain(context.Background(), storage.OrganizationDomain{OrgID: acme.ID, Domain: "upstream.example", VerifiedAt: time.Now()}, auditNone()); err != nil {
		t.Fatal(err)
	}
	return up, down
}

// as returns the same browser (cookies) acting on another provider.
func (b *browser) as(e *env) *browser { return &browser{t: b.t, c: b.c, e: e} }

// walk follows redirects across the two providers (resolving relative
// locations) and returns the first response that leaves them, with the
// URLs it visited.
func (b *browser) walk(resp *http.Response, hosts ...string) (*http.Response, string, []string) {
	b.t.Helper()
	var visited []string
	body := ""
	for i := 0; i < 20 && isRedirect(resp.StatusCode); i++ {
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
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
		r, err := b.c.Do(req)
		if err != nil {
			b.t.Fatal(err)
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
func federatedLogin(t *testing.T, up, down *env, b *browser, authURL, email string) (*http.Response, string, []string) {
	t.Helper()
	if !strings.Contains(authURL, "organization=") {
		authURL += "&organization=acme"
	}
	_, page := b.authorize(authURL)
	id := hidden(page).Get("id")
	if !strings.Contains(page, "/login/federated/up?id="+id) {
		t.Fatalf("no button for the connection: %.400s", page)
	}
	resp, _ := b.get("/login/federated/up?id=" + id)
	hosts := []string{hostOf(up.issuer), hostOf(down.issuer)}
	resp, page, visited := b.walk(resp, hosts...)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("upstream login page: %d %.300s", resp.StatusCode, page)
	}
	resp, _ = b.as(up).submitLogin(page, email, userPassword)
	resp, body, more := b.walk(resp, hosts...)
	return resp, body, append(visited, more...)
}

// Sign in through an upstream OP: JIT provisioning, amr fed, a second
// login reuses the link; state, browser and replay rules hold (CHECKS 60).
func TestFederatedLogin(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			up, down := federatedPair(t, backend)
			ctx := context.Background()
			b := down.browser()
			verifier, ch := pkce()
			auth := down.authURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"})
			resp, body, visited := federatedLogin(t, up, down, b, auth, "eve@upstream.example")
			tok := down.tokensFrom(b.clientRedirect(resp, body), verifier)
			c := claimsOf(t, tok.IDToken)
			if c["email"] != "eve@upstream.example" || c["amr"].([]any)[0] != "fed" {
				t.Fatalf("claims %v", c)
			}
			eve, err := down.app.Store.UserByEmail(ctx, "eve@upstream.example")
			if err != nil || eve.PasswordHash != "" || c["sub"] != eve.ID {
				t.Fatalf("JIT user %+v %v", eve, err)
			}
			acme, _ := down.app.Store.OrganizationBySlug(ctx, "acme")
			if ms, _ := down.app.Store.MembershipsByUser(ctx, eve.ID); len(ms) != 1 || ms[0].OrgID != acme.ID || ms[0].Role != "member" {
				t.Fatalf("membership %+v", ms)
			}
			// The callback cannot be replayed.
			var callback string
			for _, v := range visited {
				if strings.Contains(v, "/federation/callback") {
					callback = v
				}
			}
			if resp, _ := b.get(callback); resp.StatusCode != 400 {
				t.Fatalf("replayed state: %d", resp.StatusCode)
			}
			// A second login reuses the link (no second user) and refreshes
			// the profile from the upstream.
			upEve := mustUser(t, up, "eve@upstream.example")
			if err := up.app.Store.UpdateProfile(ctx, upEve.ID, "Eve Renamed", true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			b2 := down.browser()
			resp, body, _ = federatedLogin(t, up, down, b2, down.authURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}), "eve@upstream.example")
			if u := b2.clientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("second login: %s", u)
			}
			if got := mustUser(t, down, "eve@upstream.example"); got.Name != "Eve Renamed" {
				t.Fatalf("profile not refreshed: %q", got.Name)
			}
			if evs, _ := down.app.Store.ListAudit(ctx, storage.AuditFilter{Type: "user_provisioned"}); len(evs) != 1 {
				t.Fatalf("provisioned %d times", len(evs))
			}
			// Tampered state, and a state from another browser.
			if resp, _ := b.get("/federation/callback?state=forged&code=x"); resp.StatusCode != 400 {
				t.Fatalf("tampered state: %d", resp.StatusCode)
			}
			a := down.browser()
			_, page := a.authorize(down.authURL(map[string]string{"organization": "acme"}))
			resp, _ = a.get("/login/federated/up?id=" + hidden(page).Get("id"))
			start, _ := url.Parse(resp.Header.Get("Location"))
			if resp, _ := down.browser().get("/federation/callback?code=x&state=" + url.QueryEscape(start.Query().Get("state"))); resp.StatusCode != 403 {
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
	up, down := federatedPair(t, "memory")
	ctx := context.Background()
	try := func(email string) (*http.Response, string) {
		b := down.browser()
		resp, body, _ := federatedLogin(t, up, down, b, down.authURL(nil), email) // ada and bob exist on both sides
		return resp, body
	}
	if resp, body := try("bob@example.com"); resp.StatusCode != 409 || !strings.Contains(body, "already exists") {
		t.Fatalf("link without permission: %d", resp.StatusCode)
	}
	conn, _ := down.app.Store.ConnectionByID(ctx, "up")
	conn.LinkByEmail, conn.AllowEmailLinking = true, false // the organization asks, the operator has not allowed
	if err := down.app.Store.UpsertConnection(ctx, conn, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	acme, _ := down.app.Store.OrganizationBySlug(ctx, "acme")
	if err := down.app.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "example.com", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := try("bob@example.com"); resp.StatusCode != 409 {
		t.Fatalf("link without the operator's permission: %d", resp.StatusCode)
	}
	conn.AllowEmailLinking = true
	if err := down.app.Store.UpsertConnection(ctx, conn, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// The owner is above the connection's ceiling (admin): never linked.
	if resp, _ := try(userEmail); resp.StatusCode != 409 {
		t.Fatalf("an IdP took over the owner's account: %d", resp.StatusCode)
	}
	// Unverified upstream email: never linked.
	bobUp := mustUser(t, up, "bob@example.com")
	if err := up.app.Store.UpdateProfile(ctx, bobUp.ID, "Bob", false, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := try("bob@example.com"); resp.StatusCode != 409 {
		t.Fatalf("unverified email linked: %d", resp.StatusCode)
	}
	if err := up.app.Store.UpdateProfile(ctx, bobUp.ID, "Bob", true, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// Everything holds: the member's account is linked, once.
	resp, body := try("bob@example.com")
	if u := (&browser{t: t}).clientRedirect(resp, body); u.Query().Get("code") == "" {
		t.Fatalf("verified link: %s", u)
	}
	bob := mustUser(t, down, "bob@example.com")
	link, err := down.app.Store.IdentityByUpstream(ctx, "up", up.issuer, bobUp.ID)
	if err != nil || link.UserID != bob.ID || !link.LinkedByEmail {
		t.Fatalf("link %+v %v", link, err)
	}
	// A password reset ends the link made on email.
	b := down.browser()
	_, page := b.get("/forgot")
	b.fill(page, "/forgot", map[string]string{"email": "bob@example.com"})
	_, page = b.get(linkIn(t, down.mailTo("bob@example.com", "Reset")))
	if resp, _ := b.fill(page, "/reset", map[string]string{"password": newPassword}); resp.StatusCode != 200 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if _, err := down.app.Store.IdentityByUpstream(ctx, "up", up.issuer, bobUp.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the email link survived the password reset: %v", err)
	}
}

func mustUser(t *testing.T, e *env, email string) storage.User {
	u, err := e.app.Store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Home-realm discovery, MFA after federation, disabled connections and a
// down upstream (CHECKS 62, F8).
func TestFederationRules(t *testing.T) {
	up, down := federatedPair(t, "memory")
	ctx := context.Background()
	acme, _ := down.app.Store.OrganizationBySlug(ctx, "acme")
	if err := down.app.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "upstream.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	b := down.browser()
	_, page := b.authorize(down.authURL(nil))
	resp, _ := b.submitLogin(page, "eve@upstream.example", "")
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/federated/up?id=") || !strings.Contains(loc, "hint=eve%40upstream.example") {
		t.Fatalf("home-realm discovery: %d %s", resp.StatusCode, loc)
	}
	hb := down.browser()
	resp, _ = hb.get(down.authURL(map[string]string{"login_hint": "eve@upstream.example"}))
	resp, _ = hb.get(resp.Header.Get("Location"))
	if !strings.HasPrefix(resp.Header.Get("Location"), "/login/federated/up?id=") {
		t.Fatalf("login_hint home realm: %s", resp.Header.Get("Location"))
	}

	// The organization requires MFA and the upstream shows none: enroll.
	if err := down.app.Store.SetMFAPolicy(ctx, acme.ID, "required", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	mb := down.browser()
	resp, page, _ = federatedLoginByButton(t, up, down, mb)
	if !strings.Contains(page, "Set up two-step verification") {
		t.Fatalf("MFA after federation: %d %.200s", resp.StatusCode, page)
	}

	// A disabled connection neither starts nor finishes a login.
	db := down.browser()
	_, page = db.authorize(down.authURL(map[string]string{"organization": "acme"}))
	resp, _ = db.get("/login/federated/up?id=" + hidden(page).Get("id"))
	state, _ := url.Parse(resp.Header.Get("Location"))
	conn, _ := down.app.Store.ConnectionByID(ctx, "up")
	conn.Enabled = false
	if err := down.app.Store.UpsertConnection(ctx, conn, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := db.get("/federation/callback?code=x&state=" + url.QueryEscape(state.Query().Get("state"))); resp.StatusCode != 403 {
		t.Fatalf("callback on a disabled connection: %d", resp.StatusCode)
	}
	if resp, _ := db.get("/login/federated/up?id=" + hidden(page).Get("id")); resp.StatusCode != 400 {
		t.Fatalf("start on a disabled connection: %d", resp.StatusCode)
	}

	// Upstream down: a friendly error, and local login still works.
	if err := down.app.Store.SetMFAPolicy(ctx, acme.ID, "optional", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	conn.Enabled = true
	down.app.Store.UpsertConnection(ctx, conn, storage.AuditEvent{})
	up.srv.Close()
	xb := down.browser()
	_, page = xb.authorize(down.authURL(map[string]string{"organization": "acme"}))
	start := time.Now()
	resp, body := xb.get("/login/federated/up?id=" + hidden(page).Get("id"))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "not responding") || time.Since(start) > 5*time.Second {
		t.Fatalf("upstream down: %d after %v", resp.StatusCode, time.Since(start))
	}
	if u := down.browser().login(down.authURL(map[string]string{"client_id": "web2", "redirect_uri": "https://other.example/cb"}), "bob@example.com", userPassword); u.Query().Get("code") == "" {
		t.Fatal("local login broken while the upstream is down")
	}
	if evs, _ := down.app.Store.ListAudit(ctx, storage.AuditFilter{Type: "federation_failed"}); len(evs) < 3 {
		t.Fatalf("federation failures audited: %d", len(evs))
	}
}

func federatedLoginByButton(t *testing.T, up, down *env, b *browser) (*http.Response, string, []string) {
	return federatedLogin(t, up, down, b, down.authURL(nil), "eve@upstream.example")
}

// CHECKS 64: with the egress guard on (the default), an upstream on an
// internal address is never contacted.
func TestFederationEgressGuard(t *testing.T) {
	up, down := federatedPair(t, "memory", func(c *Config) { c.Federation.AllowPrivateNetworks = false })
	b := down.browser()
	_, page := b.authorize(down.authURL(map[string]string{"organization": "acme"}))
	resp, body := b.get("/login/federated/up?id=" + hidden(page).Get("id"))
	if resp.StatusCode != http.StatusBadGateway || leak(body) {
		t.Fatalf("internal upstream: %d", resp.StatusCode)
	}
	_, metrics := up.browser().get("/metrics")
	if strings.Contains(metrics, `route="/.well-known/openid-configuration"`) {
		t.Fatal("the upstream was contacted")
	}
}

// The presets end to end against an upstream with their issuer shapes
// (Azure AD's tid/oid and Google's hd claims are covered against an
// in-process OP in federation/oidc).
func TestFederationPresets(t *testing.T) {
	for _, typ := range []string{"okta", "auth0", "google"} {
		t.Run(typ, func(t *testing.T) {
			up, down := federatedPair(t, "memory", func(c *Config) {
				c.Federation.Connections[0].Type = typ
				if typ == "auth0" {
					c.Federation.Connections[0].Issuer += "/" // Auth0 issuers end with a slash
				}
			})
			b := down.browser()
			resp, body, _ := federatedLogin(t, up, down, b, down.authURL(nil), "eve@upstream.example")
			if u := b.clientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("%s: %s", typ, u)
			}
		})
	}
}

// The Azure AD (multi-tenant) and Google (hosted domain) presets end to
// end, against an in-process OP that issues their claim shapes.
func TestFederationClaimShapes(t *testing.T) {
	const tenant = "11111111-2222-3333-4444-555555555555"
	cases := []struct {
		name  string
		conn  func(op *oidctest.Server) ConnectionConfig
		setup func(op *oidctest.Server)
		good  map[string]any
		bad   map[string]any
	}{
		{"azuread", func(op *oidctest.Server) ConnectionConfig {
			return ConnectionConfig{Type: "azuread", Tenant: "organizations", AllowedTenants: []string{tenant}, BaseURL: op.URL}
		}, func(op *oidctest.Server) { op.Issuer = op.URL + "/{tenantid}/v2.0" },
			map[string]any{"tid": tenant, "oid": "o-1", "email": "fiona@contoso.example", "email_verified": nil},
			map[string]any{"tid": "99999999-2222-3333-4444-555555555555", "oid": "o-1", "email": "mal@evil.example"}},
		{"google", func(op *oidctest.Server) ConnectionConfig {
			return ConnectionConfig{Type: "google", HostedDomain: "contoso.example", Issuer: op.URL}
		}, func(*oidctest.Server) {},
			map[string]any{"hd": "contoso.example", "email": "fiona@contoso.example"},
			map[string]any{"email": "mal@contoso.example"}}, // no hd: a consumer account
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.New(t)
			op.Set(tc.setup)
			srv := httptestUnstarted()
			cfg := testConfig("http://"+srv.Listener.Addr().String(), "memory", "")
			cc := tc.conn(op)
			cc.ID, cc.Name, cc.Organization, cc.ClientID, cc.ClientSecret, cc.DefaultRole = "corp", "Contoso", "acme", op.ClientID, op.ClientSecret, "viewer"
			cc.RoleMapping = map[string]string{"idp-admins": "admin"} // the OP sends groups ["idp-admins"]
			cfg.Federation.Connections = []ConnectionConfig{cc}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			down := startOn(t, srv, cfg)
			claimsFor := func(extra map[string]any) {
				op.Set(func(s *oidctest.Server) {
					s.Claims = func(nonce string) map[string]any {
						m := s.Good(nonce, extra)
						if tid, ok := extra["tid"].(string); ok {
							m["iss"] = s.URL + "/" + tid + "/v2.0"
						}
						return m
					}
				})
			}
			run := func() (*http.Response, string) {
				b := down.browser()
				_, page := b.authorize(down.authURL(map[string]string{"organization": "acme"}))
				resp, _ := b.get("/login/federated/corp?id=" + hidden(page).Get("id"))
				resp, body, _ := b.walk(resp, hostOf(op.URL), hostOf(down.issuer))
				return resp, body
			}
			claimsFor(tc.good)
			// contoso.example is no verified domain of acme: its IdP sets up
			// no account there.
			if resp, body := run(); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "may not sign in here") {
				t.Fatalf("an organization's IdP set up an account off its domains: %d", resp.StatusCode)
			}
			acme, _ := down.app.Store.OrganizationBySlug(context.Background(), "acme")
			if err := down.app.Store.AddDomain(context.Background(), storage.OrganizationDomain{OrgID: acme.ID, Domain: "contoso.example", VerifiedAt: time.Now()}, auditNone()); err != nil {
				t.Fatal(err)
			}
			resp, body := run()
			u := (&browser{t: t}).clientRedirect(resp, body)
			if u.Query().Get("code") == "" {
				t.Fatalf("good identity: %s", u)
			}
			// The upstream's amr says mfa, but the operator did not mark the
			// connection trusted: no mfa here.
			_, raw := down.exchange(u.Query().Get("code"), "")
			if amr := fmt.Sprint(claimsOf(t, decode(t, raw).IDToken)["amr"]); strings.Contains(amr, "mfa") {
				t.Fatalf("an untrusted upstream's mfa was believed: %s", amr)
			}
			fiona, err := down.app.Store.UserByEmail(context.Background(), "fiona@contoso.example")
			if err != nil {
				t.Fatal("not provisioned")
			}
			if want := tc.name == "google"; fiona.EmailVerified != want {
				// The Google shape asserts email_verified; the Azure one
				// sends none, so the address stays unverified.
				t.Fatalf("email_verified of %s: %v", tc.name, fiona.EmailVerified)
			}
			if ms, _ := down.app.Store.MembershipsByUser(context.Background(), fiona.ID); len(ms) != 1 || ms[0].Role != "admin" {
				t.Fatalf("group → role mapping: %+v", ms)
			}
			// The client may name the connection: straight upstream.
			nb := down.browser()
			resp, _ = nb.get(down.authURL(map[string]string{"connection": "corp"}))
			resp, _ = nb.get(resp.Header.Get("Location"))
			if !strings.HasPrefix(resp.Header.Get("Location"), "/login/federated/corp?id=") {
				t.Fatalf("connection parameter: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			claimsFor(tc.bad)
			resp, body = run()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not sign in here") {
				t.Fatalf("refused identity: %d %.200s", resp.StatusCode, body)
			}
			if _, err := down.app.Store.UserByEmail(context.Background(), "mal@evil.example"); err == nil {
				t.Fatal("refused identity was provisioned")
			}
		})
	}
}

// An organization's SSO button appears only on sign-ins for it (its own
// clients, or organization=<slug>), never on other tenants' pages.
func TestOrganizationButtonsStayWithTheirOrganization(t *testing.T) {
	up, down := federatedPair(t, "memory")
	b := down.browser()
	if _, page := b.authorize(down.authURL(nil)); strings.Contains(page, "/login/federated/up") {
		t.Fatal("acme's IdP button on a platform client's sign-in page")
	}
	if _, page := b.authorize(down.authURL(map[string]string{"organization": "acme"})); !strings.Contains(page, "/login/federated/up") {
		t.Fatal("no button on a sign-in naming acme")
	}
	// Nor can a link force it: the connection parameter, or the start URL,
	// for a sign-in that is not acme's.
	resp, _ := b.get(down.authURL(map[string]string{"connection": "up"}))
	resp, _ = b.follow(b.get(resp.Header.Get("Location")))
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Location"), hostOf(up.issuer)) {
		t.Fatalf("a link forced acme's IdP onto another sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	acme, _ := down.app.Store.OrganizationBySlug(context.Background(), "acme")
	if _, err := down.app.Store.UpsertClient(context.Background(), storage.Client{ID: "acme-app", OrgID: acme.ID, Name: "Acme App",
		SecretHash: storage.HashSecret(webSecret), RedirectURIs: []string{rpCallback}, GrantTypes: []string{"authorization_code"}}, auditNone()); err != nil {
		t.Fatal(err)
	}
	if _, page := b.authorize(down.authURL(map[string]string{"client_id": "acme-app", "scope": "openid"})); !strings.Contains(page, "/login/federated/up") {
		t.Fatal("no button on acme's own client's sign-in page")
	}
}
