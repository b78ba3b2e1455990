package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/login/password"
)

// MFA and email policies declared per client and per organization.
func TestDeclaredPolicies(t *testing.T) {
	e := newEnv(t, "memory", func(c *Config) {
		c.Bootstrap.Organizations = append(c.Bootstrap.Organizations, BootstrapOrg{Slug: "strict", Name: "Strict Co", RequireVerifiedEmail: true})
		c.Bootstrap.Users = append(c.Bootstrap.Users, BootstrapUser{Email: "dan@strict.example", Password: userPassword, Organization: "strict", Role: "member"})
		c.Bootstrap.Clients[0].RequireMFA = true // "web"
	})
	ctx := context.Background()
	// Bootstrap users are verified; make dan unverified to see the rule.
	dan, _ := e.app.Store.UserByEmail(ctx, "dan@strict.example")
	if err := e.app.Store.UpdateProfile(ctx, dan.ID, dan.Name, false, auditNone()); err != nil {
		t.Fatal(err)
	}
	// Client "web" requires MFA: bob (no factor) is taken to enrollment.
	b := e.browser()
	_, page := b.authorize(e.authURL(nil))
	resp, page := b.follow(b.submitLogin(page, "bob@example.com", userPassword))
	if !strings.Contains(page, "Set up two-step verification") {
		t.Fatalf("client require_mfa: %d %.200s", resp.StatusCode, page)
	}
	// Client "web2" does not: bob signs in with his password alone.
	b2 := e.browser()
	q := map[string]string{"client_id": "web2", "redirect_uri": "https://other.example/cb"}
	if u := b2.login(e.authURL(q), "bob@example.com", userPassword); u.Query().Get("code") == "" {
		t.Fatalf("web2: %s", u)
	}
	// Strict Co requires a verified email, whatever the client.
	b3 := e.browser()
	_, page = b3.authorize(e.authURL(q))
	resp, page = b3.follow(b3.submitLogin(page, "dan@strict.example", userPassword))
	if resp.StatusCode != 403 || !strings.Contains(page, "Verify your email first") {
		t.Fatalf("org require_verified_email: %d", resp.StatusCode)
	}
	// Re-applying an unchanged declaration writes nothing.
	before, _ := e.app.Store.ListAudit(ctx, auditFilterAll())
	h := password.NewHasher(e.cfg.Passwords.Argon2, 2, time.Second)
	if err := applyBootstrap(ctx, e.app.Store, h, e.cfg.Bootstrap, e.clock.now); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.app.Store.ListAudit(ctx, auditFilterAll()); len(after) != len(before) {
		t.Fatalf("idempotent bootstrap wrote %d rows", len(after)-len(before))
	}
}
