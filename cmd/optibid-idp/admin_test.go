package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The CLI changes features and applies templates under the same rules.
func TestFeaturesCLI(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres", apptest.Catalogue)
	cfgPath := cliConfig(t, e)
	admin := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(append([]string{"admin", "--config", cfgPath}, args...), &out, io.Discard)
		return out.String(), err
	}
	out, err := admin("features", "list", "--org", "acme", "--table")
	if err != nil || !strings.Contains(out, "KEY") || !strings.Contains(out, "bids.day_ahead") {
		t.Fatalf("features list: %v\n%s", err, out)
	}
	if _, err := admin("features", "set", "--org", "acme", "--feature", "bids.auto", "--enable"); err == nil || !strings.Contains(err.Error(), "bids.day_ahead") {
		t.Fatalf("dependency not enforced: %v", err)
	}
	out, err = admin("features", "set", "--org", "acme", "--feature", "bids.day_ahead", "--enable", "--config", `{"max_bid_mw": 5}`)
	if err != nil || !strings.Contains(out, `"bids.day_ahead"`) || !strings.Contains(out, `"max_bid_mw": 5`) {
		t.Fatalf("features set: %v\n%s", err, out)
	}
	if out, err = admin("templates", "list"); err != nil || !strings.Contains(out, `"cautious"`) {
		t.Fatalf("templates list: %v\n%s", err, out)
	}
	if out, err = admin("templates", "apply", "--org", "acme", "--template", "cautious"); err != nil || !strings.Contains(out, "bids.manual_approval") {
		t.Fatalf("templates apply: %v\n%s", err, out)
	}
	acme, _ := e.App.Store.OrganizationBySlug(context.Background(), "acme")
	if apps, _ := e.App.Store.TemplateApplications(context.Background(), acme.ID); len(apps) != 1 || apps[0].AppliedBy != "cli" {
		t.Fatalf("template log: %+v", apps)
	}
}

// The operator's CLI: export a user, audit export, erase with confirmation.
func TestGDPRCLI(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	admin := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(append([]string{"admin", "--config", cfgPath}, args...), &out, io.Discard)
		return out.String(), err
	}
	_ = e.TokenOf("bob@example.com") // some history
	out, err := admin("user", "export", "--email", "bob@example.com")
	if err != nil || !strings.Contains(out, `"email": "bob@example.com"`) || !strings.Contains(out, `"security_events"`) {
		t.Fatalf("user export: %v %s", err, out)
	}
	out, err = admin("audit", "export", "--type", "login_succeeded", "--limit", "5")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 1 || !strings.Contains(lines[0], `"type":"login_succeeded"`) {
		t.Fatalf("audit export: %v %s", err, out)
	}
	if _, err := admin("audit", "export", "--org", "no-such-org"); err == nil {
		t.Fatal("audit export for an unknown organization")
	}
	if _, err := admin("user", "erase", "--email", "bob@example.com"); err == nil {
		t.Fatal("erase without --confirm")
	}
	if out, err = admin("user", "erase", "--email", "bob@example.com", "--confirm", "bob@example.com"); err != nil || !strings.Contains(out, "erased-") {
		t.Fatalf("erase: %v %s", err, out)
	}
	if _, err := admin("user", "erase", "--email", apptest.UserEmail, "--confirm", apptest.UserEmail); err == nil || !strings.Contains(err.Error(), "owner") {
		t.Fatalf("last owner erased by the CLI: %v", err)
	}
	if _, err := e.App.Store.UserByEmail(context.Background(), "bob@example.com"); err == nil {
		t.Fatal("bob still there")
	}
}

// cliConfig writes a config file pointing the CLI at e's PostgreSQL store.
func cliConfig(t *testing.T, e *apptest.Env) string {
	path := filepath.Join(t.TempDir(), "c.yaml")
	err := os.WriteFile(path, []byte(`issuer: `+e.Issuer+`
storage: {type: postgres, postgres: {dsn: "`+e.Cfg.Storage.Postgres.DSN+`"}}
keys: {encryption_key: "`+e.Cfg.Keys.EncryptionKey+`"}
sessions: {csrf_key: "`+e.Cfg.Sessions.CSRFKey+`"}
dev_mode: true
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// The admin CLI works against PostgreSQL: org, user, client, key rotation.
func TestAdminCLI(t *testing.T) {
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	t.Setenv("NEW_PW", "a long enough password")
	var out bytes.Buffer
	for _, args := range [][]string{
		{"org", "create", "--slug", "globex", "--name", "Globex", "--mfa", "required"},
		{"user", "create", "--email", "carol@example.com", "--name", "Carol", "--org", "globex", "--role", "admin", "--password-env", "NEW_PW"},
		{"client", "create", "--id", "cli-made", "--name", "Made by CLI", "--redirect-uri", "https://made.example/cb"},
		{"user", "platform-admin", "--email", "carol@example.com"},
		{"keys", "rotate", "--alg", "ES256"},
	} {
		out.Reset()
		if err := run(append([]string{"admin", "--config", cfgPath}, args...), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if !strings.Contains(out.String(), "ES256:") {
		t.Fatalf("keys rotate output: %s", out.String())
	}
	ctx := context.Background()
	if u, err := e.App.Store.UserByEmail(ctx, "carol@example.com"); err != nil || !u.PlatformAdmin {
		t.Fatalf("carol: %+v %v", u, err)
	}
	if c, err := e.App.Store.ClientByID(ctx, "cli-made"); err != nil || c.SecretHash == "" {
		t.Fatalf("client: %+v %v", c, err)
	}
	// The running replica picks the rotation up on reload.
	before := e.App.Keys.SigningKey("ES256").ID()
	if err := e.App.Keys.Reload(ctx); err != nil || e.App.Keys.SigningKey("ES256").ID() == before {
		t.Fatalf("rotation not visible to the running replica: %v", err)
	}
	if err := run([]string{"admin", "--config", cfgPath, "client", "create", "--id", "bad", "--redirect-uri", "JaVaScRiPt:x"}, &out, io.Discard); err == nil {
		t.Fatal("javascript: redirect accepted by the CLI")
	}
}
