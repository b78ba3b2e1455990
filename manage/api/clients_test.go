package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// An organization registers, rotates and deletes its own clients; the
// secret is shown once and the old one stops working at once.
func TestOrgClientManagement(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, _ := adminEnv(t, backend)
			base := "/orgs/" + acme.ID + "/clients"
			ada := e.TokenOf(apptest.UserEmail)
			for _, bad := range []map[string]any{
				{"name": "x", "redirect_uris": []string{"javascript:alert(1)"}},
				{"name": "x", "redirect_uris": []string{"https://app.example/cb#frag"}},
				{"name": "x", "public": true, "grant_types": []string{"client_credentials"}},
				{"name": "", "redirect_uris": []string{"https://app.example/cb"}},
				{"name": "x", "grant_types": []string{"password"}},
			} {
				if st, b := e.API("POST", base, ada, bad); st != http.StatusBadRequest || b["error"] != "invalid_client_metadata" {
					t.Fatalf("accepted %v: %d %v", bad, st, b)
				}
			}
			if st, _ := e.API("POST", base, e.TokenOf("bob@example.com"), map[string]any{"name": "x", "grant_types": []string{"client_credentials"}}); st != http.StatusForbidden {
				t.Fatalf("a member registered a client: %d", st)
			}
			st, body := e.API("POST", base, ada, map[string]any{"name": "Acme settlement", "grant_types": []string{"client_credentials"}, "scopes": []string{"market:view"}})
			id, _ := body["client_id"].(string)
			secret, _ := body["client_secret"].(string)
			if st != http.StatusCreated || id == "" || len(secret) < 32 {
				t.Fatalf("create: %d %v", st, body)
			}
			ccToken := func(secret string) int {
				resp, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"market:view"}}, id, secret)
				return resp.StatusCode
			}
			if code := ccToken(secret); code != 200 {
				t.Fatalf("client_credentials with the new client: %d", code)
			}
			_, body = e.API("GET", base, ada, nil)
			if list := body["clients"].([]any); len(list) != 1 || strings.Contains(strings.ToLower(jsonString(list)), "secret") {
				t.Fatalf("list: %v", body)
			}
			st, body = e.API("POST", base+"/"+id+"/secret", ada, nil)
			newSecret, _ := body["client_secret"].(string)
			if st != http.StatusOK || newSecret == "" || newSecret == secret {
				t.Fatalf("rotate: %d %v", st, body)
			}
			if ccToken(secret) != http.StatusUnauthorized || ccToken(newSecret) != 200 {
				t.Fatal("old secret still works, or the new one does not")
			}
			// The platform's clients are not the organization's to touch.
			if st, _ := e.API("DELETE", base+"/web", ada, nil); st != http.StatusNotFound {
				t.Fatalf("org deleted a platform client: %d", st)
			}
			if st, _ := e.API("DELETE", base+"/"+id, ada, nil); st != http.StatusNoContent {
				t.Fatalf("delete: %d", st)
			}
			if code := ccToken(newSecret); code == 200 {
				t.Fatal("a deleted client still gets tokens")
			}
		})
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
