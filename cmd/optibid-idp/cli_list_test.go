package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// lister runs `admin KIND list` with args on some store.
type lister func(kind string, args ...string) (stdout, stderr string, err error)

// sealed is the sealed secret of the connection checkLists adds.
var sealed = []byte("sealed-connection-secret-0123456789")

// The list commands, through the CLI on PostgreSQL (the admin commands'
// store).
func TestListCommandsPostgres(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	checkLists(t, e, func(kind string, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(append([]string{"admin", "--config", cfgPath, kind, "list"}, args...), &out, &errOut)
		return out.String(), errOut.String(), err
	})
	// The admin commands refuse a memory store: it would be their own, empty one.
	err := run([]string{"admin", "--config", "../../configs/dev.yaml", "org", "list"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("org list on a memory store config: %v", err)
	}
}

// The same lists on the memory store, through app.List with the CLI's
// flags.
func TestListCommandsMemory(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	checkLists(t, e, func(kind string, args ...string) (string, string, error) {
		var q app.ListQuery
		fs := app.NewFlags("admin " + kind + " list")
		q.Flags(fs)
		if err := app.ParseFlags(fs, args); err != nil {
			return "", "", err
		}
		var out, errOut bytes.Buffer
		err := app.List(context.Background(), e.App.Store, kind, q, &out, &errOut)
		return out.String(), errOut.String(), err
	})
}

// checkLists runs every list against e's fixtures (and organizations and
// connections it adds, one with a sealed secret): tables, JSON lines, search, paging with the
// cursor on stderr, and never a secret.
func checkLists(t *testing.T, e *apptest.Env, list lister) {
	ctx := context.Background()
	for _, c := range []storage.Connection{
		{ID: "corp-idp", Type: "oidc", Name: "Corp <IdP> & co", Config: []byte(`{"issuer":"https://idp.example"}`), SecretSealed: sealed, Enabled: true, MaxRole: "member", DefaultRole: "member"},
		{ID: "alt-idp", Type: "oidc", Name: "Alt", Config: []byte(`{"issuer":"https://alt.example"}`), MaxRole: "member", DefaultRole: "member"},
	} {
		if err := e.App.Store.UpsertConnection(ctx, c, storage.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, slug := range []string{"beta", "gamma"} {
		if _, err := e.App.Store.UpsertOrganization(ctx, storage.Organization{Slug: slug, Name: "Org " + slug}, storage.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(kind string, args ...string) (string, string) {
		t.Helper()
		out, errOut, err := list(kind, args...)
		if err != nil {
			t.Fatalf("%s list %v: %v", kind, args, err)
		}
		return out, errOut
	}
	// A table with a header, then JSON lines, each an object with the key.
	for kind, want := range map[string][2]string{"org": {"SLUG", "acme"}, "user": {"EMAIL", apptest.UserEmail},
		"client": {"GRANT-TYPES", "web2"}, "connection": {"ENABLED", "corp-idp"}} {
		out, _ := must(kind)
		if header, _, _ := strings.Cut(out, "\n"); !strings.Contains(header, want[0]) || !strings.Contains(out, want[1]) {
			t.Fatalf("%s list table:\n%s", kind, out)
		}
		out, _ = must(kind, "--json")
		keys := jsonKeys(t, out, map[string]string{"org": "slug", "user": "email", "client": "client_id", "connection": "id"}[kind])
		if !strings.Contains(strings.Join(keys, " "), want[1]) {
			t.Fatalf("%s list --json: %s", kind, out)
		}
	}
	// --search ignores case and matches the key or the name; --after and
	// --limit page; a full page names the next cursor on stderr.
	if out, _ := must("user", "--search", "LOVELACE", "--json"); len(jsonKeys(t, out, "email")) != 1 || !strings.Contains(out, apptest.UserEmail) {
		t.Fatalf("user list --search LOVELACE: %s", out)
	}
	if out, _ := must("connection", "--search", "<idp> &", "--json"); !strings.Contains(out, `"name":"Corp <IdP> & co"`) {
		t.Fatalf("connection list --search: %s", out)
	}
	for _, kind := range []string{"org", "user", "client", "connection"} {
		field := map[string]string{"org": "slug", "user": "email", "client": "client_id", "connection": "id"}[kind]
		out, errOut := must(kind, "--json", "--limit", "1000")
		all := jsonKeys(t, out, field)
		if errOut != "" {
			t.Fatalf("%s list: a page that is not full names a next one: %q", kind, errOut)
		}
		var paged []string
		for after := ""; ; {
			out, errOut := must(kind, "--json", "--limit", "2", "--after", after)
			page := jsonKeys(t, out, field)
			paged = append(paged, page...)
			next, full := strings.CutPrefix(strings.TrimSpace(errOut), "next page: --after ")
			if full != (len(page) == 2) || full && next != page[1] {
				t.Fatalf("%s list page after %q: %q, stderr %q", kind, after, page, errOut)
			}
			if !full {
				break
			}
			after = next
		}
		if fmt.Sprint(paged) != fmt.Sprint(all) || len(all) < 2 {
			t.Fatalf("%s list: pages of 2 gave %q, one page %q", kind, paged, all)
		}
	}
	// No list shows a secret: not a client's, its hash, or a connection's
	// sealed secret (in any encoding).
	clients, err := e.App.Store.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{apptest.WebSecret, apptest.Web2Secret, apptest.SvcSecret, string(sealed),
		base64.StdEncoding.EncodeToString(sealed), fmt.Sprintf("%x", sealed), `"config"`, "SecretHash", "secret_hash"}
	for _, c := range clients {
		if c.SecretHash != "" {
			forbidden = append(forbidden, c.SecretHash)
		}
	}
	for _, kind := range []string{"org", "user", "client", "connection"} {
		for _, format := range [][]string{nil, {"--json"}} {
			out, errOut := must(kind, format...)
			for _, f := range forbidden {
				if strings.Contains(out+errOut, f) {
					t.Fatalf("%s list %v shows %q:\n%s", kind, format, f, out)
				}
			}
		}
	}
	if out, _ := must("connection", "--json", "--search", "corp-idp"); !strings.Contains(out, `"has_secret":true`) {
		t.Fatalf("connection list: %s", out)
	}
}

// jsonKeys parses JSON lines and returns each object's field.
func jsonKeys(t *testing.T, out, field string) []string {
	t.Helper()
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		k, _ := v[field].(string)
		keys = append(keys, k)
	}
	return keys
}
