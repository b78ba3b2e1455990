package api_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// An organization manages its own SSO connections: settings checked,
// secret sealed and never returned, roles within the caller's own.
func TestOrgConnections(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, _ := adminEnv(t, backend)
			base := "/orgs/" + acme.ID + "/connections"
			ada := e.TokenOf(apptest.UserEmail)
			good := map[string]any{"type": "okta", "name": "Acme Okta", "client_secret": "upstream-secret-value",
				"settings": map[string]any{"client_id": "0oa1", "domain": "acme.okta.com"}, "role_mapping": map[string]string{"traders": "admin"}}
			if st, _ := e.API("POST", base, e.TokenOf("bob@example.com"), good); st != http.StatusForbidden {
				t.Fatalf("a member added a connection: %d", st)
			}
			for _, bad := range []map[string]any{
				{"type": "saml", "name": "x", "settings": map[string]any{"client_id": "c"}},
				{"type": "oidc", "name": "x", "settings": map[string]any{"client_id": "c", "issuer": "not a url"}},
				{"type": "okta", "name": "", "settings": map[string]any{"client_id": "c", "domain": "acme.okta.com"}},
			} {
				if st, b := e.API("POST", base, ada, bad); st != http.StatusBadRequest {
					t.Fatalf("accepted %v: %d %v", bad, st, b)
				}
			}
			st, body := e.API("POST", base, ada, good)
			id, _ := body["id"].(string)
			if st != http.StatusCreated || body["has_secret"] != true || body["default_role"] != "member" || bytes.Contains([]byte(jsonString(body)), []byte("upstream-secret-value")) {
				t.Fatalf("create: %d %v", st, body)
			}
			stored, err := e.App.Store.ConnectionByID(context.Background(), id)
			if err != nil || stored.OrgID != acme.ID || len(stored.SecretSealed) == 0 || bytes.Contains(stored.SecretSealed, []byte("upstream-secret-value")) {
				t.Fatalf("stored: %+v %v", stored, err)
			}
			if _, b := e.API("GET", base, ada, nil); len(b["connections"].([]any)) != 1 {
				t.Fatalf("list: %v", b)
			}
			// An admin cannot make SSO mint owners.
			if err := e.App.Store.SetMemberRole(context.Background(), acme.ID, e.User("bob@example.com").ID, "admin", storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			owners := map[string]any{"type": "okta", "name": "x", "default_role": "owner", "settings": map[string]any{"client_id": "c", "domain": "acme.okta.com"}}
			if st, _ := e.API("POST", base, e.TokenOf("bob@example.com"), owners); st != http.StatusForbidden {
				t.Fatalf("admin created an owner-granting connection: %d", st)
			}
			if st, _ := e.API("DELETE", base+"/"+id, ada, nil); st != http.StatusNoContent {
				t.Fatalf("delete: %d", st)
			}
			if st, _ := e.API("DELETE", base+"/"+id, ada, nil); st != http.StatusNotFound {
				t.Fatalf("delete twice: %d", st)
			}
		})
	}
}

// Turning a connection on is held to the same ceiling as creating it: an
// admin cannot switch on an owner's connection that provisions owners.
func TestConnectionEnableWithinCeiling(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "memory")
	ada := e.TokenOf(apptest.UserEmail)
	st, body := e.API("POST", "/orgs/acme/connections", ada, map[string]any{"type": "okta", "name": "Owners", "disabled": true, "default_role": "owner",
		"settings": map[string]any{"client_id": "c", "domain": "acme.okta.com"}})
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, body)
	}
	id, _ := body["id"].(string)
	if err := e.App.Store.SetMemberRole(context.Background(), acme.ID, e.User("bob@example.com").ID, "admin", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	bob := e.TokenOf("bob@example.com")
	if st, body := e.API("PATCH", "/orgs/acme/connections/"+id, bob, map[string]any{"enabled": true}); st != http.StatusForbidden {
		t.Fatalf("an admin switched on an owner-minting connection: %d %v", st, body)
	}
	if st, _ := e.API("PATCH", "/orgs/acme/connections/"+id, bob, map[string]any{"enabled": false}); st != http.StatusOK {
		t.Fatalf("an admin switching it off: %d", st)
	}
	if st, body := e.API("PATCH", "/orgs/acme/connections/"+id, ada, map[string]any{"enabled": true}); st != http.StatusOK || body["enabled"] != true {
		t.Fatalf("the owner switching it on: %d %v", st, body)
	}
	if st, _ := e.API("PATCH", "/orgs/acme/connections/"+id, ada, map[string]any{}); st != http.StatusBadRequest {
		t.Fatalf("no enabled: %d", st)
	}
}
