package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// GDPR access and erasure through the API, on both stores: the export
// holds what we store and no secret; erasure ends every session and token
// and leaves the audit log pseudonymized; a last owner is refused.
func TestGDPRExportAndErase(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			const bobEmail = "bob@example.com"
			bob := e.User(bobEmail)
			v, ch := apptest.PKCE()
			u := e.Browser().Login(e.AuthURL(map[string]string{"scope": "openid email org offline_access manage", "code_challenge": ch,
				"code_challenge_method": "S256", "resource": e.Issuer + "/api"}), bobEmail, apptest.UserPassword)
			_, raw := e.Exchange(u.Query().Get("code"), v)
			tok := apptest.DecodeToken(t, raw)

			req, _ := http.NewRequest("GET", e.Issuer+"/api/v1/me/export", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := e.Srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var doc struct {
				Account struct {
					ID, Email   string
					PasswordSet bool `json:"password_set"`
				} `json:"account"`
				Memberships []map[string]any `json:"memberships"`
				Sessions    []map[string]any `json:"sessions"`
				Grants      []map[string]any `json:"authorizations"`
				Events      []map[string]any `json:"security_events"`
			}
			if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
				t.Fatalf("export: %d %s", resp.StatusCode, body)
			}
			if doc.Account.ID != bob.ID || doc.Account.Email != bobEmail || !doc.Account.PasswordSet || len(doc.Memberships) != 1 ||
				len(doc.Sessions) != 1 || len(doc.Grants) != 1 || len(doc.Events) == 0 {
				t.Fatalf("export document: %s", body)
			}
			for _, secret := range []string{bob.PasswordHash, "argon2", tok.RefreshToken, storage.HashSecret(tok.RefreshToken)} {
				if strings.Contains(string(body), secret) {
					t.Fatalf("export holds a secret (%.12s…)", secret)
				}
			}

			// Erasure needs the confirmation; the last owner cannot.
			if st, b := e.API("DELETE", "/me", tok.AccessToken, map[string]string{"confirm": "someone@else.example"}); st != http.StatusBadRequest {
				t.Fatalf("erase without confirmation: %d %v", st, b)
			}
			ada := e.TokenOf(apptest.UserEmail)
			if st, b := e.API("DELETE", "/me", ada, map[string]string{"confirm": apptest.UserEmail}); st != http.StatusConflict || b["error"] != "last_owner" {
				t.Fatalf("last owner erased: %d %v", st, b)
			}
			if st, b := e.API("DELETE", "/me", tok.AccessToken, map[string]string{"confirm": "BOB@example.com"}); st != http.StatusNoContent {
				t.Fatalf("erase: %d %v", st, b)
			}

			// Everything tied to bob is dead.
			if st, _ := e.API("GET", "/me", tok.AccessToken, nil); st != http.StatusUnauthorized {
				t.Fatalf("API with an erased user's token: %d", st)
			}
			if _, intro := e.PostToken("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "web", apptest.WebSecret); !strings.Contains(intro, `"active":false`) {
				t.Fatalf("introspection after erasure: %s", intro)
			}
			if st, b := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret); st.StatusCode != 400 || !strings.Contains(b, "invalid_grant") {
				t.Fatalf("refresh after erasure: %d %s", st.StatusCode, b)
			}
			if _, err := e.App.Store.UserByEmail(ctx, bobEmail); err == nil {
				t.Fatal("user still there")
			}
			// The audit log keeps the events, without bob in them.
			all, err := e.App.Store.ListAudit(ctx, storage.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			pseudonymous := 0
			for _, ev := range all {
				if ev.ActorID == bob.ID || ev.SubjectID == bob.ID || strings.Contains(strings.ToLower(ev.Details["email"]), "bob@") {
					t.Fatalf("audit row still names bob: %+v", ev)
				}
				if strings.HasPrefix(ev.ActorID, "erased-") {
					pseudonymous++
					if ev.IP != "" || ev.UserAgent != "" {
						t.Fatalf("pseudonymized row keeps IP/UA: %+v", ev)
					}
				}
			}
			if pseudonymous < len(doc.Events) {
				t.Fatalf("%d pseudonymized rows, %d events exported before", pseudonymous, len(doc.Events))
			}
		})
	}
}

// The export and the account page show the subject's own addresses and
// browsers only: an administrator's, acting on the user, stay out.
func TestExportShowsOnlyTheSubjectsOwnAddresses(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ctx := context.Background()
	bob := e.User("bob@example.com")
	if err := e.App.Store.AppendAudit(ctx, storage.AuditEvent{Type: "role_changed", Time: time.Now(), ActorID: e.User(apptest.UserEmail).ID,
		SubjectID: bob.ID, IP: "203.0.113.9", UserAgent: "AdminBrowser/1.0"}); err != nil {
		t.Fatal(err)
	}
	tok := e.TokenOf("bob@example.com")
	req, _ := http.NewRequest("GET", e.Issuer+"/api/v1/me/export", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(body), "203.0.113.9") || strings.Contains(string(body), "AdminBrowser") {
		t.Fatalf("export shows another person's address: %d %s", resp.StatusCode, body)
	}
	b := e.Browser()
	page := b.AccountSignIn("bob@example.com", apptest.UserPassword)
	if strings.Contains(page, "203.0.113.9") || strings.Contains(page, "AdminBrowser") {
		t.Fatal("the account page shows another person's address")
	}
}
