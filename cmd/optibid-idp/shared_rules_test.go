package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The CLI and the management API register clients under one set of rules
// (manage.ClientSpec.Check): the same invalid client is refused by both,
// for the same field and with the same words. Before the rules had one
// home the CLI skipped the API's 20-URI limit and its scope check.
func TestCLIAndAPIShareClientRules(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	token := e.TokenOf(apptest.UserEmail) // the owner of acme
	acme := e.Org("acme")
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("https://rp.example/cb%d", i)
	}
	cases := []struct {
		name     string
		redirect []string
		scopes   []string
		want     string // the rule's words, as both front doors say them
	}{
		{"21 redirect URIs", many, nil, "redirect_uris: at most 20"},
		{"an API's scope as its own", []string{"https://rp.example/cb"}, []string{"manage"}, `scopes[0]: "manage" belongs to an API`},
		{"javascript redirect", []string{"javascript:alert(1)"}, nil, "redirect_uris[0]:"},
		{"http off loopback", []string{"http://rp.example/cb"}, nil, "redirect_uris[0]:"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.API(http.MethodPost, "/orgs/"+acme.ID+"/clients", token,
				map[string]any{"name": "Rule Test", "redirect_uris": tc.redirect, "scopes": tc.scopes})
			msg, _ := body["message"].(string)
			if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" || !strings.Contains(msg, tc.want) {
				t.Fatalf("API: %d %v, want 400 naming %q", status, body, tc.want)
			}
			args := []string{"admin", "--config", cfgPath, "client", "create", "--id", fmt.Sprintf("rule-test-%d", i), "--name", "Rule Test"}
			for _, u := range tc.redirect {
				args = append(args, "--redirect-uri", u)
			}
			for _, s := range tc.scopes {
				args = append(args, "--scope", s)
			}
			var out strings.Builder
			err := run(args, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CLI: %v (%s), want an error naming %q", err, out.String(), tc.want)
			}
			if _, err := e.App.Store.ClientByID(t.Context(), fmt.Sprintf("rule-test-%d", i)); err == nil {
				t.Fatal("the CLI stored the invalid client")
			}
		})
	}
	// And a valid one is created once: the same ID again is refused, not
	// silently replaced with a new secret.
	args := []string{"admin", "--config", cfgPath, "client", "create", "--id", "rule-ok", "--name", "Rule OK", "--redirect-uri", "https://rp.example/cb"}
	var out strings.Builder
	if err := run(args, &out, io.Discard); err != nil || !strings.Contains(out.String(), `"secret"`) {
		t.Fatalf("valid client: %v %s", err, out.String())
	}
	before, _ := e.App.Store.ClientByID(t.Context(), "rule-ok")
	if err := run(args, io.Discard, io.Discard); err == nil {
		t.Fatal("creating an existing client ID again succeeded")
	}
	if after, _ := e.App.Store.ClientByID(t.Context(), "rule-ok"); after.SecretHash != before.SecretHash {
		t.Fatal("the existing client's secret was rotated")
	}
}
