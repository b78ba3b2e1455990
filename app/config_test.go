package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// Every shipped configuration file loads (production's secrets from the
// environment, as documented).
func TestShippedConfigsLoad(t *testing.T) {
	t.Setenv("OPTIBID_DATABASE_URL", "postgres://idp@db.internal/idp")
	t.Setenv("OPTIBID_KEY_ENCRYPTION_KEY", apptest.Key32())
	t.Setenv("OPTIBID_CSRF_KEY", apptest.Key32())
	t.Setenv("OPTIBID_ADMIN_PASSWORD", "a very long admin password")
	t.Setenv("TRADING_WEB_CLIENT_SECRET", strings.Repeat("s", 43))
	t.Setenv("OPTIBID_SMTP_PASSWORD", "smtp-secret")
	t.Setenv("OPTIBID_TWILIO_AUTH_TOKEN", "twilio-secret")
	for _, f := range []string{"dev.yaml", "production.example.yaml"} {
		t.Run(f, func(t *testing.T) {
			cfg, err := app.LoadConfig(filepath.Join("..", "configs", f))
			if err != nil {
				t.Fatal(err)
			}
			if f == "dev.yaml" && (cfg.Storage.Type != "memory" || cfg.Issuer != "http://localhost:8080" || len(cfg.Bootstrap.Clients) == 0) {
				t.Fatalf("dev config: %+v", cfg)
			}
			if f == "production.example.yaml" && cfg.Storage.Postgres.DSN != "postgres://idp@db.internal/idp" {
				t.Fatalf("env not applied: %q", cfg.Storage.Postgres.DSN)
			}
		})
	}
}

// An invalid configuration fails with one line naming the key.
func TestInvalidConfig(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "configs", "dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, from, to, key string }{
		{"http issuer", "issuer: http://localhost:8080", "issuer: http://id.example.com", "issuer"},
		{"no issuer", "issuer: http://localhost:8080", "issuer: ''", "issuer"},
		{"storage type", "type: memory", "type: mongo", "storage.type"},
		{"short key", "encryption_key: ", "encryption_key: dG9vc2hvcnQ= #", "keys.encryption_key"},
		{"bad redirect", `redirect_uris: ["http://localhost:9999/callback"]`, `redirect_uris: ["JaVaScRiPt:alert(1)"]`, "bootstrap.clients[0].redirect_uris[0]"},
		{"bad grant", "grant_types: [client_credentials]", "grant_types: [password]", "bootstrap.clients[2].grant_types[0]"},
		{"unknown org", "organization: demo", "organization: nope", "bootstrap.users[0].organization"},
		{"bad role", "role: owner", "role: god", "bootstrap.users[0].role"},
		{"unknown key", "\nstorage:", "\nstorge: {}\nstorage:", "storge"},
		{"bad addr", "addr: 127.0.0.1:8080", "addr: nowhere", "http.addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(base), tc.from) {
				t.Fatalf("fixture lacks %q", tc.from)
			}
			path := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(strings.Replace(string(base), tc.from, tc.to, 1)), 0o600)
			_, err := app.LoadConfig(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.key) {
				t.Fatalf("want one line naming %s, got %q", tc.key, msg)
			}
		})
	}
	t.Run("postgres without dsn", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(strings.Replace(string(base), "type: memory", "type: postgres", 1)), 0o600)
		t.Setenv("OPTIBID_DATABASE_URL", "")
		if _, err := app.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "storage.postgres.dsn") {
			t.Fatalf("got %v", err)
		}
	})
}
