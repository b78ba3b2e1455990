package app_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// MFA and email policies declared per client and per organization.
func TestDeclaredPolicies(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) {
		c.Bootstrap.Organizations = append(c.Bootstrap.Organizations, app.BootstrapOrg{Slug: "strict", Name: "Strict Co", RequireVerifiedEmail: true})
		c.Bootstrap.Users = append(c.Bootstrap.Users, app.BootstrapUser{Email: "dan@strict.example", Password: apptest.UserPassword, Organization: "strict", Role: "member"})
		c.Bootstrap.Clients[0].RequireMFA = true // "web"
	})
	ctx := context.Background()
	// Bootstrap users are verified; make dan unverified to see the rule.
	dan, _ := e.App.Store.UserByEmail(ctx, "dan@strict.example")
	if err := e.App.Store.UpdateProfile(ctx, dan.ID, dan.Name, false, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	// Client "web" requires MFA: bob (no factor) is taken to enrollment.
	b := e.Browser()
	_, page := b.Authorize(e.AuthURL(nil))
	resp, page := b.Follow(b.SubmitLogin(page, "bob@example.com", apptest.UserPassword))
	if !strings.Contains(page, "Set up two-step verification") {
		t.Fatalf("client require_mfa: %d %.200s", resp.StatusCode, page)
	}
	// Client "web2" does not: bob signs in with his password alone.
	b2 := e.Browser()
	q := map[string]string{"client_id": "web2", "redirect_uri": "https://other.example/cb"}
	if u := b2.Login(e.AuthURL(q), "bob@example.com", apptest.UserPassword); u.Query().Get("code") == "" {
		t.Fatalf("web2: %s", u)
	}
	// Strict Co requires a verified email, whatever the client.
	b3 := e.Browser()
	_, page = b3.Authorize(e.AuthURL(q))
	resp, page = b3.Follow(b3.SubmitLogin(page, "dan@strict.example", apptest.UserPassword))
	if resp.StatusCode != 403 || !strings.Contains(page, "Verify your email first") {
		t.Fatalf("org require_verified_email: %d", resp.StatusCode)
	}
	// Re-applying an unchanged declaration writes nothing.
	before, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{})
	h := password.NewHasher(e.Cfg.Passwords.Argon2, 2, time.Second)
	if err := app.ApplyBootstrap(ctx, e.App.Store, h, e.Cfg.Bootstrap, e.Clock.Now); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{}); len(after) != len(before) {
		t.Fatalf("idempotent bootstrap wrote %d rows", len(after)-len(before))
	}
	// A changed password in the file replaces the stored one, and only
	// that user's.
	changed := e.Cfg.Bootstrap
	changed.Users = slices.Clone(changed.Users)
	i := slices.IndexFunc(changed.Users, func(u app.BootstrapUser) bool { return u.Email == "dan@strict.example" })
	changed.Users[i].Password = "a-new-password-from-the-file"
	if err := app.ApplyBootstrap(ctx, e.App.Store, h, changed, e.Clock.Now); err != nil {
		t.Fatal(err)
	}
	rows, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{Type: string(manage.EventPasswordChanged)})
	if len(rows) != 1 || rows[0].SubjectID != dan.ID {
		t.Fatalf("password changes after a changed file: %+v", rows)
	}
	dan, _ = e.App.Store.UserByEmail(ctx, "dan@strict.example")
	if ok, _, _ := h.Verify(ctx, dan.PasswordHash, "a-new-password-from-the-file"); !ok {
		t.Fatal("the file's new password does not verify")
	}
}
