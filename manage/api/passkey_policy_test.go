package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// A deployment without passkeys (an issuer on an IP address, as in these
// tests) refuses the passkey policy: every member would be locked out.
func TestPasskeyPolicyNeedsPasskeys(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	token := e.TokenOf(apptest.UserEmail)
	status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "passkey"})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "mfa") || !strings.Contains(fmt.Sprint(body), "no passkeys") {
		t.Fatalf("passkey policy without passkeys: %d %v", status, body)
	}
	if o := e.Org("acme"); o.MFAPolicy == "passkey" {
		t.Fatal("stored anyway")
	}
	if status, body := e.API("PATCH", "/orgs/acme", token, map[string]any{"mfa": "required"}); status != http.StatusOK {
		t.Fatalf("required: %d %v", status, body)
	}
}
