package federation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/federation/oidc/oidctest"
	"github.com/optibid/idp/storage"
)

// The presets end to end against an upstream with their issuer shapes
// (Azure AD's tid/oid and Google's hd claims are covered against an
// in-process OP in federation/oidc).
func TestFederationPresets(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"okta", "auth0", "google"} {
		t.Run(typ, func(t *testing.T) {
			up, down := federatedPair(t, "memory", func(c *app.Config) {
				c.Federation.Connections[0].Type = typ
				if typ == "auth0" {
					c.Federation.Connections[0].Issuer += "/" // Auth0 issuers end with a slash
				}
			})
			b := down.Browser()
			resp, body, _ := federatedLogin(t, up, down, b, down.AuthURL(nil), "eve@upstream.example")
			if u := b.ClientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("%s: %s", typ, u)
			}
		})
	}
}

// The Azure AD (multi-tenant) and Google (hosted domain) presets end to
// end, against an in-process OP that issues their claim shapes.
func TestFederationClaimShapes(t *testing.T) {
	t.Parallel()
	const tenant = "11111111-2222-3333-4444-555555555555"
	cases := []struct {
		name  string
		conn  func(op *oidctest.Server) app.ConnectionConfig
		setup func(op *oidctest.Server)
		good  map[string]any
		bad   map[string]any
	}{
		{"azuread", func(op *oidctest.Server) app.ConnectionConfig {
			return app.ConnectionConfig{Type: "azuread", Tenant: "organizations", AllowedTenants: []string{tenant}, BaseURL: op.URL}
		}, func(op *oidctest.Server) { op.Issuer = op.URL + "/{tenantid}/v2.0" },
			map[string]any{"tid": tenant, "oid": "o-1", "email": "fiona@contoso.example", "email_verified": nil},
			map[string]any{"tid": "99999999-2222-3333-4444-555555555555", "oid": "o-1", "email": "mal@evil.example"}},
		{"google", func(op *oidctest.Server) app.ConnectionConfig {
			return app.ConnectionConfig{Type: "google", HostedDomain: "contoso.example", Issuer: op.URL}
		}, func(*oidctest.Server) {},
			map[string]any{"hd": "contoso.example", "email": "fiona@contoso.example"},
			map[string]any{"email": "mal@contoso.example"}}, // no hd: a consumer account
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.New(t)
			op.Set(tc.setup)
			srv := httptest.NewUnstartedServer(nil)
			cfg := apptest.Config("http://"+srv.Listener.Addr().String(), "memory", "")
			cc := tc.conn(op)
			cc.ID, cc.Name, cc.Organization, cc.ClientID, cc.ClientSecret, cc.DefaultRole = "corp", "Contoso", "acme", op.ClientID, op.ClientSecret, "viewer"
			cc.RoleMapping = map[string]string{"idp-admins": "admin"} // the OP sends groups ["idp-admins"]
			cfg.Federation.Connections = []app.ConnectionConfig{cc}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			down := apptest.StartOn(t, srv, cfg)
			claimsFor := func(extra map[string]any) {
				op.Set(func(s *oidctest.Server) {
					s.Claims = func(nonce string) map[string]any {
						m := s.Good(nonce, extra)
						if tid, ok := extra["tid"].(string); ok {
							m["iss"] = s.URL + "/" + tid + "/v2.0"
						}
						return m
					}
				})
			}
			run := func() (*http.Response, string) {
				b := down.Browser()
				_, page := b.Authorize(down.AuthURL(map[string]string{"organization": "acme"}))
				resp, _ := b.Get("/login/federated/corp?id=" + apptest.Hidden(page).Get("id"))
				resp, body, _ := walk(t, b, resp, hostOf(op.URL), hostOf(down.Issuer))
				return resp, body
			}
			claimsFor(tc.good)
			// contoso.example is no verified domain of acme: its IdP sets up
			// no account there.
			if resp, body := run(); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "may not sign in here") {
				t.Fatalf("an organization's IdP set up an account off its domains: %d", resp.StatusCode)
			}
			acme, _ := down.App.Store.OrganizationBySlug(context.Background(), "acme")
			if err := down.App.Store.AddDomain(context.Background(), storage.OrganizationDomain{OrgID: acme.ID, Domain: "contoso.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			resp, body := run()
			u := down.Browser().ClientRedirect(resp, body)
			if u.Query().Get("code") == "" {
				t.Fatalf("good identity: %s", u)
			}
			// The upstream's amr says mfa, but the operator did not mark the
			// connection trusted: no mfa here.
			_, raw := down.Exchange(u.Query().Get("code"), "")
			if amr := fmt.Sprint(apptest.Claims(t, apptest.DecodeToken(t, raw).IDToken)["amr"]); strings.Contains(amr, "mfa") {
				t.Fatalf("an untrusted upstream's mfa was believed: %s", amr)
			}
			fiona, err := down.App.Store.UserByEmail(context.Background(), "fiona@contoso.example")
			if err != nil {
				t.Fatal("not provisioned")
			}
			if want := tc.name == "google"; fiona.EmailVerified != want {
				// The Google shape asserts email_verified; the Azure one
				// sends none, so the address stays unverified.
				t.Fatalf("email_verified of %s: %v", tc.name, fiona.EmailVerified)
			}
			if ms, _ := down.App.Store.MembershipsByUser(context.Background(), fiona.ID); len(ms) != 1 || ms[0].Role != "admin" {
				t.Fatalf("group → role mapping: %+v", ms)
			}
			// The client may name the connection: straight upstream.
			nb := down.Browser()
			resp, _ = nb.Get(down.AuthURL(map[string]string{"connection": "corp"}))
			resp, _ = nb.Get(resp.Header.Get("Location"))
			if !strings.HasPrefix(resp.Header.Get("Location"), "/login/federated/corp?id=") {
				t.Fatalf("connection parameter: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			claimsFor(tc.bad)
			resp, body = run()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not sign in here") {
				t.Fatalf("refused identity: %d %.200s", resp.StatusCode, body)
			}
			if _, err := down.App.Store.UserByEmail(context.Background(), "mal@evil.example"); err == nil {
				t.Fatal("refused identity was provisioned")
			}
		})
	}
}
