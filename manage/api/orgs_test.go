package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Organization life cycle and the platform-admin role, on both stores.
func TestPlatformAdminAndOrgLifecycle(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, globex := adminEnv(t, backend)
			ctx := context.Background()
			dave := e.User("dave@example.com")
			if err := e.App.Store.SetPlatformAdmin(ctx, dave.ID, true, storage.AuditEvent{Type: "platform_admin_granted"}); err != nil {
				t.Fatal(err)
			}
			ada, carol, pa := e.TokenOf(apptest.UserEmail), e.TokenOf("carol@globex.example"), e.TokenOf("dave@example.com")
			create := map[string]string{"slug": "initech", "name": "Initech", "plan": "enterprise", "owner_email": "carol@globex.example"}
			if st, _ := e.API("POST", "/orgs", ada, create); st != http.StatusForbidden {
				t.Fatalf("an org owner created an organization: %d", st)
			}
			for _, bad := range []map[string]string{
				{"slug": "Bad Slug", "name": "x", "owner_email": "carol@globex.example"},
				{"slug": "ok", "name": "x", "plan": "platinum", "owner_email": "carol@globex.example"},
			} {
				if st, _ := e.API("POST", "/orgs", pa, bad); st != http.StatusBadRequest {
					t.Fatalf("bad create %v: %d", bad, st)
				}
			}
			// An owner without an account is invited; nobody owns it until
			// they accept, and the operator does not become a member.
			st, body := e.API("POST", "/orgs", pa, map[string]string{"slug": "x", "name": "x", "owner_email": "nobody@example.com"})
			inv, _ := body["invitation"].(map[string]any)
			if st != http.StatusCreated || inv["role"] != "owner" || inv["email"] != "nobody@example.com" || inv["status"] != "pending" {
				t.Fatalf("unknown owner: %d %v", st, body)
			}
			if _, ms := e.API("GET", "/orgs/x/members", pa, nil); len(ms["members"].([]any)) != 0 {
				t.Fatalf("members of an organization whose owner is invited: %v", ms)
			}
			if st, _ := e.API("POST", "/orgs", pa, map[string]string{"slug": "y", "name": "y", "owner_email": "Someone <a@b.example>"}); st != http.StatusBadRequest {
				t.Fatalf("owner address with a display name: %d", st)
			}
			if st, _ := e.API("GET", "/orgs/y", pa, nil); st != http.StatusNotFound {
				t.Fatalf("a refused create left an organization: %d", st)
			}
			st, body = e.API("POST", "/orgs", pa, create)
			created, _ := body["org"].(map[string]any)
			if st != http.StatusCreated || created["plan"] != "enterprise" || body["invitation"] != nil {
				t.Fatalf("create: %d %v", st, body)
			}
			initech, _ := created["id"].(string)
			if st, _ := e.API("POST", "/orgs", pa, create); st != http.StatusConflict {
				t.Fatalf("taken slug: %d", st)
			}
			if _, me := e.API("GET", "/me", carol, nil); len(me["memberships"].([]any)) != 2 {
				t.Fatalf("carol's memberships: %v", me)
			}
			// The platform admin acts in any organization; others still get 404.
			if st, _ := e.API("GET", "/orgs/"+globex.ID+"/members", pa, nil); st != http.StatusOK {
				t.Fatalf("platform admin reading another org: %d", st)
			}
			if st, _ := e.API("GET", "/orgs/0123456789abcdef0123456789abcdef", pa, nil); st != http.StatusNotFound {
				t.Fatalf("platform admin, unknown org: %d", st)
			}
			if st, _ := e.API("GET", "/orgs/"+initech, ada, nil); st != http.StatusNotFound {
				t.Fatalf("ada sees initech: %d", st)
			}
			// Only a platform admin can vouch for a domain without DNS.
			for _, tok := range []string{ada, pa} {
				org := acme.ID
				if tok == pa {
					org = globex.ID
				}
				e.API("POST", "/orgs/"+org+"/domains", tok, map[string]string{"domain": "vouched-" + org[:6] + ".example"})
				st, _ := e.API("POST", "/orgs/"+org+"/domains/vouched-"+org[:6]+".example/verify?force=1", tok, map[string]string{})
				if (tok == pa) != (st == http.StatusOK) || (tok == ada && st != http.StatusUnprocessableEntity) {
					t.Fatalf("forced verification (platform admin %v): %d", tok == pa, st)
				}
			}
			// Deletion: members may not, the owner may with the slug.
			if st, _ := e.API("DELETE", "/orgs/"+acme.ID, e.TokenOf("bob@example.com"), map[string]string{"confirm": "acme"}); st != http.StatusForbidden {
				t.Fatalf("a member deleted the org: %d", st)
			}
			if st, _ := e.API("DELETE", "/orgs/"+initech, carol, map[string]string{"confirm": "acme"}); st != http.StatusBadRequest {
				t.Fatalf("delete with a wrong confirmation: %d", st)
			}
			if st, _ := e.API("DELETE", "/orgs/"+initech, carol, map[string]string{"confirm": "initech"}); st != http.StatusNoContent {
				t.Fatalf("delete: %d", st)
			}
			if st, _ := e.API("GET", "/orgs/"+initech, pa, nil); st != http.StatusNotFound {
				t.Fatalf("deleted org: %d", st)
			}
			if evs, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{OrgID: initech, Type: "organization_deleted"}); len(evs) != 1 || evs[0].ActorID != e.User("carol@globex.example").ID {
				t.Fatalf("deletion audit: %+v", evs)
			}
			// The whole audit log is for platform admins, filtered by user as actor or subject.
			if st, _ := e.API("GET", "/audit", ada, nil); st != http.StatusForbidden {
				t.Fatalf("an org owner read the platform audit log: %d", st)
			}
			carolID := e.User("carol@globex.example").ID
			_, body = e.API("GET", "/audit?user="+carolID+"&limit=1000", pa, nil)
			types := map[string]bool{}
			for _, ev := range body["events"].([]any) {
				ev := ev.(map[string]any)
				if ev["actor_id"] != carolID && ev["subject_id"] != carolID {
					t.Fatalf("row not about carol: %v", ev)
				}
				types[ev["type"].(string)] = true
			}
			if !types["organization_created"] || !types["organization_deleted"] {
				t.Fatalf("carol's rows: %v", types)
			}
		})
	}
}

// PATCH /orgs/{org}: settings round-trip, and a request with one
// forbidden field changes nothing.
func TestOrgPatchSettingsAllOrNothing(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "postgres")
	ctx := context.Background()
	ada := e.TokenOf(apptest.UserEmail)
	base := "/orgs/" + acme.ID
	st, body := e.API("PATCH", base, ada, map[string]any{"settings": map[string]any{"timezone": "Europe/Oslo", "desks": 3}})
	if st != http.StatusOK || jsonString(body["org"].(map[string]any)["settings"]) != `{"desks":3,"timezone":"Europe/Oslo"}` {
		t.Fatalf("settings: %d %v", st, body)
	}
	if st, _ := e.API("PATCH", base, ada, map[string]any{"settings": []int{1}}); st != http.StatusBadRequest {
		t.Fatalf("array settings: %d", st)
	}
	bob := e.User("bob@example.com")
	if err := e.App.Store.SetMemberRole(ctx, acme.ID, bob.ID, "admin", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.API("PATCH", base, e.TokenOf("bob@example.com"), map[string]any{"name": "Hijacked", "plan": "enterprise"}); st != http.StatusForbidden {
		t.Fatalf("admin changed the plan: %d", st)
	}
	if o, _ := e.App.Store.OrganizationByID(ctx, acme.ID); o.Name != acme.Name || o.Plan != acme.Plan {
		t.Fatalf("a refused request changed the organization: %+v", o)
	}
}

// An operator creating an organization for an address whose account never
// proved it (anyone may register any address) invites it instead of
// making the account owner; the invitation needs the verified address.
func TestOrgOwnerMustHaveProvedTheAddress(t *testing.T) {
	t.Parallel()
	e, _, _ := adminEnv(t, "memory")
	ctx := t.Context()
	dave := e.User("dave@example.com")
	if err := e.App.Store.SetPlatformAdmin(ctx, dave.ID, true, storage.AuditEvent{Type: "platform_admin_granted"}); err != nil {
		t.Fatal(err)
	}
	squatter, err := e.App.Store.CreateUser(ctx, storage.User{Email: "ceo@bigcorp.example", Name: "Not the CEO", PasswordHash: "x"}, storage.AuditEvent{})
	if err != nil {
		t.Fatal(err)
	}
	st, body := e.API("POST", "/orgs", e.TokenOf("dave@example.com"), map[string]string{"slug": "bigcorp", "name": "BigCorp", "owner_email": "ceo@bigcorp.example"})
	if inv, _ := body["invitation"].(map[string]any); st != http.StatusCreated || inv["role"] != "owner" {
		t.Fatalf("create for an unverified address: %d %v", st, body)
	}
	if ms, _ := e.App.Store.MembershipsByUser(ctx, squatter.ID); len(ms) != 0 {
		t.Fatalf("the unverified account became a member: %+v", ms)
	}
}
