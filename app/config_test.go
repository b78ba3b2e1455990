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
	for _, v := range []string{"ACME_OKTA_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET", "CONTOSO_ENTRA_CLIENT_SECRET", "FABRIKAM_AUTH0_CLIENT_SECRET"} {
		t.Setenv(v, "upstream-secret-"+v)
	}
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
		{"proxy not an address", "addr: 127.0.0.1:8080", "addr: 127.0.0.1:8080\n  trusted_proxies: [10.0.0.0/8, lb.internal]", "http.trusted_proxies[1]"},
		{"proxy list trusts everyone", "addr: 127.0.0.1:8080", "addr: 127.0.0.1:8080\n  trusted_proxies: [\"::/0\"]", "http.trusted_proxies[0]"},
		{"half of everyone", "addr: 127.0.0.1:8080", "addr: 127.0.0.1:8080\n  trusted_proxies: [10.0.0.0/8, 0.0.0.0/1]", "http.trusted_proxies[1]"},
		{"a public /8", "addr: 127.0.0.1:8080", "addr: 127.0.0.1:8080\n  trusted_proxies: [11.0.0.0/8]", "http.trusted_proxies[0]"},
		{"everyone, IPv4-mapped", "addr: 127.0.0.1:8080", "addr: 127.0.0.1:8080\n  trusted_proxies: [\"::ffff:0:0/97\"]", "http.trusted_proxies[0]"},
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
	// An issuer on an IP address has no passkeys: an organization that
	// requires them would lock every member out.
	t.Run("passkey policy without passkeys", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		c := strings.Replace(string(base), "      plan: professional\n", "      plan: professional\n      mfa: passkey\n", 1)
		os.WriteFile(path, []byte(c), 0o600)
		if _, err := app.LoadConfig(path); err != nil {
			t.Fatalf("localhost has passkeys: %v", err)
		}
		os.WriteFile(path, []byte(strings.Replace(c, "issuer: http://localhost:8080", "issuer: http://127.0.0.1:8080", 1)), 0o600)
		if _, err := app.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "bootstrap.organizations[0].mfa") {
			t.Fatalf("passkey policy on an IP issuer: %v", err)
		}
	})
	t.Run("postgres without dsn", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(strings.Replace(string(base), "type: memory", "type: postgres", 1)), 0o600)
		t.Setenv("OPTIBID_DATABASE_URL", "")
		if _, err := app.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "storage.postgres.dsn") {
			t.Fatalf("got %v", err)
		}
	})
}

// A ${VAR} in a secret field that is unset or empty is an error naming the
// variable and the key: an unset client secret once made a confidential
// client public without a word.
func TestUnsetSecretVariableIsNamed(t *testing.T) {
	t.Setenv("OPTIBID_TEST_UNSET_SECRET", "")
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, `issuer: http://localhost:8080
dev_mode: true
keys: {encryption_key: "`+apptest.Key32()+`"}
sessions: {csrf_key: "`+apptest.Key32()+`"}
bootstrap:
  clients:
    - id: web
      name: Web
      secret: "${OPTIBID_TEST_UNSET_SECRET}"
      redirect_uris: ["https://rp.example/cb"]
  users:
    - {email: a@example.com, password: "${OPTIBID_TEST_NO_SUCH_PASSWORD}", role: member}
`)
	_, err := app.LoadConfig(path)
	if err == nil {
		t.Fatal("a config with unset secret variables loaded")
	}
	for _, want := range []string{"bootstrap.clients[0].secret: ${OPTIBID_TEST_UNSET_SECRET} is unset or empty",
		"bootstrap.users[0].password: ${OPTIBID_TEST_NO_SUCH_PASSWORD} is unset or empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// In development OPTIBID_HTTP_ADDR alone moves the issuer along, so the
// banner, discovery and every link name the address really served.
func TestHTTPAddrAloneMovesTheDevIssuer(t *testing.T) {
	t.Setenv("OPTIBID_ISSUER", "")
	for addr, want := range map[string]string{"127.0.0.1:9191": "http://127.0.0.1:9191", ":9292": "http://localhost:9292"} {
		t.Setenv("OPTIBID_HTTP_ADDR", addr)
		cfg, err := app.LoadConfig(filepath.Join("..", "configs", "dev.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Issuer != want || cfg.HTTP.Addr != addr {
			t.Errorf("OPTIBID_HTTP_ADDR=%s: issuer %q addr %q, want issuer %q", addr, cfg.Issuer, cfg.HTTP.Addr, want)
		}
	}
	// An explicit issuer wins.
	t.Setenv("OPTIBID_ISSUER", "http://localhost:7000")
	t.Setenv("OPTIBID_HTTP_ADDR", "127.0.0.1:9191")
	if cfg, err := app.LoadConfig(filepath.Join("..", "configs", "dev.yaml")); err != nil || cfg.Issuer != "http://localhost:7000" {
		t.Fatalf("explicit issuer: %v %v", cfg, err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A value from the environment is taken as it is: a "$" in a database
// password is not expanded again, and an OPTIBID_* override stands in for
// a file reference to another variable.
func TestEnvironmentValuesAreNotExpandedTwice(t *testing.T) {
	t.Setenv("OPTIBID_DATABASE_URL", "postgres://idp:pa$word@db.internal/idp")
	t.Setenv("OPTIBID_KEY_ENCRYPTION_KEY", apptest.Key32())
	t.Setenv("OPTIBID_CSRF_KEY", apptest.Key32())
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, `issuer: http://localhost:8080
dev_mode: true
storage: {type: postgres, postgres: {dsn: "${SOME_UNSET_DB_URL}"}}
bootstrap:
  users:
    - {email: a@example.com, password: "lit$eral pa$$word", role: member}
`)
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if cfg.Storage.Postgres.DSN != "postgres://idp:pa$word@db.internal/idp" {
		t.Fatalf("dsn %q: the environment's value was changed", cfg.Storage.Postgres.DSN)
	}
	if cfg.Bootstrap.Users[0].Password != "lit$eral pa$$word" {
		t.Fatalf("a literal $ in a secret was expanded: %q", cfg.Bootstrap.Users[0].Password)
	}
}
