package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// Adding a person to an existing organization from the CLI must not touch
// the organization's policies. `admin user create --org acme` declares the
// organization by slug and name only, and the bootstrap's idempotent write
// then resets everything the declaration leaves unset: MFA required
// becomes optional, the plan becomes free, and the verified-email
// requirement is switched off.
func TestCLIUserCreateKeepsOrgPolicies(t *testing.T) {
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	acme := e.Org("acme")
	owner := e.TokenOf(apptest.UserEmail)
	if st, b := e.API(http.MethodPatch, "/orgs/"+acme.ID, owner, map[string]any{"mfa": "required", "require_verified_email": true}); st != http.StatusOK {
		t.Fatalf("patch: %d %v", st, b)
	}
	if err := e.App.Store.SetPlan(t.Context(), acme.ID, "enterprise", manage.CLI.Event(time.Now(), manage.EventPlanChanged, manage.About{Org: acme.ID})); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ERIN_PW", "a long enough password")
	var out strings.Builder
	if err := run([]string{"admin", "--config", cfgPath, "user", "create", "--email", "erin@example.com", "--name", "Erin",
		"--org", "acme", "--role", "viewer", "--password-env", "ERIN_PW"}, &out, io.Discard); err != nil {
		t.Fatalf("user create: %v %s", err, out.String())
	}
	after := e.Org("acme")
	if after.MFAPolicy != "required" || after.Plan != "enterprise" || !after.RequireVerifiedEmail {
		t.Fatalf("adding a user from the CLI changed acme's policies: mfa %q, plan %q, require_verified_email %v",
			after.MFAPolicy, after.Plan, after.RequireVerifiedEmail)
	}
}

// `admin user create` for an existing account is a role change in
// disguise: it writes the membership directly, past the last-owner rule
// manage.SetMemberRole keeps for the API (and it replaces the person's
// password). Here acme's only owner becomes a viewer and acme is left
// without an owner.
func TestCLIUserCreateKeepsLastOwner(t *testing.T) {
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	t.Setenv("ADA_OTHER_PW", "another long enough password")
	_ = run([]string{"admin", "--config", cfgPath, "user", "create", "--email", apptest.UserEmail, "--name", "Ada Lovelace",
		"--org", "acme", "--role", "viewer", "--password-env", "ADA_OTHER_PW"}, io.Discard, io.Discard)
	ms, err := e.App.Store.MembersOf(t.Context(), e.Org("acme").ID)
	if err != nil {
		t.Fatal(err)
	}
	owners := 0
	for _, m := range ms {
		if m.Role == "owner" {
			owners++
		}
	}
	if owners == 0 {
		t.Fatalf("the CLI left acme without an owner: %+v", ms)
	}
}

// What the operator does at the CLI is audited as the CLI ("cli"), not as
// the config file's bootstrap: `org create` and `user create` go through
// the bootstrap's writer and its actor.
func TestCLIOrgAndUserCreateAuditedAsCLI(t *testing.T) {
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	t.Setenv("FRED_PW", "a long enough password")
	for _, args := range [][]string{
		{"org", "create", "--slug", "initech", "--name", "Initech"},
		{"user", "create", "--email", "fred@example.com", "--name", "Fred", "--org", "initech", "--role", "owner", "--password-env", "FRED_PW"},
	} {
		if err := run(append([]string{"admin", "--config", cfgPath}, args...), io.Discard, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	evs, err := e.App.Store.ListAudit(t.Context(), storage.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Details["slug"] != "initech" && ev.Details["org"] != "initech" && ev.Details["email"] != "fred@example.com" {
			continue // the server's own bootstrap
		}
		n++
		if ev.ActorID != manage.CLI.UserID {
			t.Errorf("%s audited with actor %q, want %q", ev.Type, ev.ActorID, manage.CLI.UserID)
		}
	}
	if n == 0 {
		t.Fatal("no audit rows for the CLI's changes")
	}
}
