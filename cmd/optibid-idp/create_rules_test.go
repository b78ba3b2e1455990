package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The CLI's create commands never change what exists: an existing slug or
// client ID is refused; --update changes it (printing what changed) and
// keeps a client's secret; only 'client rotate' gives a new secret.
func TestCLICreateRefusesExistingAndUpdateShowsChanges(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	admin := func(args ...string) (map[string]any, error) {
		var out strings.Builder
		err := run(append([]string{"admin", "--config", cfgPath}, args...), &out, io.Discard)
		v := map[string]any{}
		_ = json.Unmarshal([]byte(out.String()), &v)
		return v, err
	}
	if _, err := admin("org", "create", "--slug", "acme", "--name", "Renamed"); err == nil || !strings.Contains(err.Error(), "--update") {
		t.Fatalf("org create on an existing slug: %v", err)
	}
	if e.Org("acme").Name != "Acme Energy" {
		t.Fatal("the refused create renamed the organization")
	}
	v, err := admin("org", "create", "--slug", "acme", "--name", "Acme Renamed", "--update")
	changed, _ := v["changed"].(map[string]any)
	if err != nil || changed["Name"] == nil || e.Org("acme").Name != "Acme Renamed" {
		t.Fatalf("org create --update: %v %v", err, v)
	}
	if _, err := admin("org", "create", "--slug", "no-such-org", "--name", "X", "--update"); err == nil {
		t.Fatal("--update created a missing organization")
	}

	if _, err := admin("client", "create", "--id", "web", "--name", "Hijack", "--redirect-uri", "https://evil.example/cb"); err == nil {
		t.Fatal("client create replaced an existing client")
	}
	before, _ := e.App.Store.ClientByID(t.Context(), "web")
	v, err = admin("client", "create", "--id", "web", "--name", "Web App v2", "--redirect-uri", "https://rp.example/cb", "--first-party", "--update")
	changed, _ = v["changed"].(map[string]any)
	after, _ := e.App.Store.ClientByID(t.Context(), "web")
	if err != nil || changed["Name"] == nil || after.Name != "Web App v2" || after.SecretHash != before.SecretHash {
		t.Fatalf("client create --update: %v %v (secret kept: %v)", err, v, after.SecretHash == before.SecretHash)
	}
	if _, ok := changed["SecretHash"]; ok {
		t.Fatal("the diff shows the secret hash")
	}
	v, err = admin("client", "rotate", "--id", "web")
	rotated, _ := e.App.Store.ClientByID(t.Context(), "web")
	if secret, _ := v["secret"].(string); err != nil || len(secret) < 32 || rotated.SecretHash == before.SecretHash {
		t.Fatalf("client rotate: %v %v", err, v)
	}
	if _, err := admin("client", "rotate", "--id", "native"); err == nil {
		t.Fatal("rotated the secret of a public client")
	}
}

// --help on any command prints its help and does nothing else.
func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve", "--help"}, {"migrate", "up", "-h"}, {"admin", "--help"}, {"admin", "--config", "x.yaml", "client", "create", "--help"}, {"version", "--help"}} {
		var out strings.Builder
		if err := run(args, &out, io.Discard); err != nil || !strings.Contains(out.String(), "usage: optibid-idp") {
			t.Errorf("%v: %v %q", args, err, out.String())
		}
		if args[0] == "admin" && !strings.Contains(out.String(), "client create") {
			t.Errorf("%v: not the admin help: %q", args, out.String())
		}
	}
}
