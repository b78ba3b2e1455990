package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// An operator's new organization invites its owner in the language asked
// for (else the request's Accept-Language): the same rule as any
// invitation; an unknown language is refused before anything is made.
func TestOwnerInvitationLanguage(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.Tenants)
	dave := e.User("dave@example.com")
	if err := e.App.Store.SetPlatformAdmin(t.Context(), dave.ID, true, storage.AuditEvent{Type: "platform_admin_granted"}); err != nil {
		t.Fatal(err)
	}
	op := e.TokenOf("dave@example.com")
	if status, body := e.API("POST", "/orgs", op, map[string]string{"slug": "volt", "name": "Volt", "owner_email": "olga@volt.example", "language": "fr"}); status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "language") {
		t.Fatalf("unknown language: %d %v", status, body)
	}
	if _, err := e.App.Store.OrganizationBySlug(t.Context(), "volt"); err == nil {
		t.Fatal("the organization was made anyway")
	}
	if status, body := e.API("POST", "/orgs", op, map[string]string{"slug": "volt", "name": "Volt", "owner_email": "olga@volt.example", "language": "de"}); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	for _, m := range e.App.Outbox.Messages() {
		if m.To == "olga@volt.example" {
			if !strings.HasPrefix(m.Subject, "Treten Sie Volt") || !strings.Contains(m.Body, "Nehmen Sie sie hier an:") {
				t.Fatalf("owner invitation not in German: %q\n%s", m.Subject, m.Body)
			}
			return
		}
	}
	t.Fatal("no owner invitation")
}
