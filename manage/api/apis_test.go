package api_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Platform APIs through the management API: platform admins only, under
// the same rules; a new API serves tokens at once on this replica.
func TestPlatformAPIsThroughTheManagementAPI(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.APIs)
	ctx := context.Background()
	ada := e.User(apptest.UserEmail)
	owner := e.TokenOf(apptest.UserEmail)
	api := map[string]any{"identifier": "https://api.optibid.example/market", "name": "Market data",
		"scopes": []map[string]string{{"name": "market:read", "description": "See prices"}}, "claims": []string{"org"}}
	if status, _ := e.API("PUT", "/apis", owner, api); status != 403 {
		t.Fatalf("an organization owner creating a platform API: %d", status)
	}
	if err := e.App.Store.SetPlatformAdmin(ctx, ada.ID, true, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if status, body := e.API("PUT", "/apis", owner, api); status != 200 {
		t.Fatalf("platform admin creating a platform API: %d %v", status, body)
	}
	bad := map[string]any{"identifier": "https://api.optibid.example/market/", "name": "Look-alike"}
	if status, _ := e.API("PUT", "/apis", owner, bad); status != 400 {
		t.Fatalf("look-alike identifier: %d", status)
	}
	resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"market:read"}}, "settlement-api", apptest.SettlementSecret)
	if resp.StatusCode != 200 {
		t.Fatalf("token for the new API: %d %s", resp.StatusCode, body)
	}
	if aud, _ := apptest.Claims(t, apptest.DecodeToken(t, body).AccessToken)["aud"].([]any); len(aud) != 1 || aud[0] != "https://api.optibid.example/market" {
		t.Fatalf("audience: %v", aud)
	}
	if status, _ := e.API("DELETE", "/apis?identifier="+url.QueryEscape("https://api.optibid.example/market"), owner, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if resp, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://api.optibid.example/market"}}, "settlement-api", apptest.SettlementSecret); resp.StatusCode != 400 {
		t.Fatalf("token for a deleted API: %d", resp.StatusCode)
	}
}
