package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// featuresOf reads the compact entitlements claim of a token.
func featuresOf(t *testing.T, token string) ([]string, map[string]any) {
	t.Helper()
	ent, _ := apptest.Claims(t, token)["entitlements"].(map[string]any)
	if ent == nil {
		t.Fatalf("no entitlements claim")
	}
	keys, _ := ent["features"].([]any)
	cfg, _ := ent["config"].(map[string]any)
	return anyStrings(keys), cfg
}

// The end-to-end: an org admin enables features through the API, a
// user logs in with openid org entitlements, ID token, userinfo and
// introspection show them; the admin disables one and the next refresh no
// longer carries it. Rules and templates along the way.
func TestEntitlementsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, apptest.Catalogue)
			ctx := context.Background()
			acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme")
			// The platform operator, so features outside acme's free plan
			// may be switched on (audited overrides; see
			// TestFeaturesOutsideThePlanNeedTheOperator).
			if err := e.App.Store.SetPlatformAdmin(ctx, e.User(apptest.UserEmail).ID, true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			admin := e.TokenOf(apptest.UserEmail) // owner of acme
			base := "/orgs/" + acme.ID

			// A member may read but not switch features.
			bob := e.TokenOf("bob@example.com")
			if st, _ := e.API("GET", base+"/features", bob, nil); st != http.StatusOK {
				t.Fatalf("member reading features: %d", st)
			}
			if st, _ := e.API("PUT", base+"/features/bids.day_ahead", bob, map[string]any{"enabled": true}); st != http.StatusForbidden {
				t.Fatalf("member switching a feature: %d", st)
			}

			// Free plan: only market.view. Automated bidding without
			// day-ahead is refused, naming both.
			st, body := e.API("PUT", base+"/features/bids.auto", admin, map[string]any{"enabled": true})
			if st != http.StatusConflict || body["feature"] != "bids.auto" || body["other"] != "bids.day_ahead" ||
				!strings.Contains(fmt.Sprint(body["message"]), "bids.day_ahead") {
				t.Fatalf("dependency off: %d %v", st, body)
			}
			if st, body = e.API("PUT", base+"/features/bids.day_ahead", admin, map[string]any{"enabled": true, "config": map[string]any{"max_bid_mw": 20}}); st != http.StatusOK {
				t.Fatalf("enable day-ahead: %d %v", st, body)
			}
			if st, body = e.API("PUT", base+"/features/bids.auto", admin, map[string]any{"enabled": true}); st != http.StatusOK {
				t.Fatalf("enable auto: %d %v", st, body)
			}
			st, body = e.API("PUT", base+"/features/bids.manual_approval", admin, map[string]any{"enabled": true})
			if st != http.StatusConflict || body["other"] != "bids.auto" || body["reason"] != "conflicts" {
				t.Fatalf("conflict: %d %v", st, body)
			}
			// Turning market.view off would strand day-ahead: refused,
			// unless cascade is asked for (not here).
			if st, body = e.API("PUT", base+"/features/market.view", admin, map[string]any{"enabled": false}); st != http.StatusConflict {
				t.Fatalf("disable a dependency: %d %v", st, body)
			}
			if st, _ = e.API("PUT", base+"/features/no.such", admin, map[string]any{"enabled": true}); st != http.StatusNotFound {
				t.Fatalf("unknown feature: %d", st)
			}

			// Login with openid org entitlements.
			scope := map[string]string{"scope": "openid org entitlements offline_access"}
			code, v := e.CodeFor(e.Browser(), scope)
			_, raw := e.Exchange(code, v)
			tok := apptest.DecodeToken(t, raw)
			keys, cfg := featuresOf(t, tok.IDToken)
			if !slices.Equal(keys, []string{"bids.auto", "bids.day_ahead", "market.view"}) || cfg != nil {
				t.Fatalf("id token features %v, config %v (the ID token carries keys only)", keys, cfg)
			}
			atKeys, cfg := featuresOf(t, tok.AccessToken)
			if c, _ := cfg["bids.day_ahead"].(map[string]any); !slices.Equal(atKeys, keys) || c["max_bid_mw"] != float64(20) {
				t.Fatalf("access token features %v, config %v", atKeys, cfg)
			}
			if ui := userinfoBody(t, e, tok.AccessToken); !strings.Contains(ui, `"bids.auto"`) || !strings.Contains(ui, `"max_bid_mw":20`) {
				t.Fatalf("userinfo: %s", ui)
			}
			_, intro := e.PostToken("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "web", apptest.WebSecret)
			var ir struct {
				Active       bool                      `json:"active"`
				Entitlements map[string]map[string]any `json:"entitlements"`
			}
			if err := json.Unmarshal([]byte(intro), &ir); err != nil || !ir.Active || len(ir.Entitlements) != 3 || ir.Entitlements["bids.day_ahead"]["max_bid_mw"] != float64(20) {
				t.Fatalf("introspection: %s", intro)
			}

			// The admin turns automated bidding off: the next refresh
			// no longer carries it.
			if st, body = e.API("PUT", base+"/features/bids.auto", admin, map[string]any{"enabled": false}); st != http.StatusOK {
				t.Fatalf("disable auto: %d %v", st, body)
			}
			_, raw = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
			refreshed := apptest.DecodeToken(t, raw)
			for _, tk := range []string{refreshed.IDToken, refreshed.AccessToken} {
				if keys, _ := featuresOf(t, tk); slices.Contains(keys, "bids.auto") || !slices.Contains(keys, "bids.day_ahead") {
					t.Fatalf("after refresh: %v", keys)
				}
			}
			// Without the entitlements scope there is no claim.
			code, v = e.CodeFor(e.Browser(), map[string]string{"scope": "openid org"})
			_, raw = e.Exchange(code, v)
			if apptest.Claims(t, apptest.DecodeToken(t, raw).IDToken)["entitlements"] != nil {
				t.Fatal("entitlements without the scope")
			}

			// A template in one step, logged as applied, every change in
			// the change log with before and after.
			if st, body = e.API("POST", base+"/templates/cautious/apply", admin, nil); st != http.StatusOK {
				t.Fatalf("apply template: %d %v", st, body)
			}
			if _, body = e.API("GET", base+"/templates", bob, nil); !strings.Contains(jsonString(body), `"id":"cautious"`) {
				t.Fatalf("templates list: %v", body)
			}
			if st, _ = e.API("POST", base+"/templates/no-such/apply", admin, nil); st != http.StatusNotFound {
				t.Fatalf("unknown template: %d", st)
			}
			apps, err := e.App.Store.TemplateApplications(ctx, acme.ID)
			if err != nil || len(apps) != 1 || apps[0].TemplateID != "cautious" || apps[0].AppliedBy == "" {
				t.Fatalf("template log %+v %v", apps, err)
			}
			_, body = e.API("GET", base+"/features/changes", admin, nil)
			changes, _ := body["changes"].([]any)
			fromTemplate := 0
			for _, c := range changes {
				c := c.(map[string]any)
				if c["template_id"] == "cautious" {
					fromTemplate++
				}
				if c["feature"] == "bids.auto" && c["template_id"] == "" && c["after"].(map[string]any)["enabled"] == false &&
					c["before"].(map[string]any)["enabled"] != true {
					t.Fatalf("change log before/after: %v", c)
				}
			}
			if fromTemplate != 3 || len(changes) != 6 {
				t.Fatalf("change log: %d from the template, %d in all: %v", fromTemplate, len(changes), changes)
			}
			_, body = e.API("GET", base+"/features", admin, nil)
			ent := body["entitlements"].(map[string]any)
			if got := anyStrings(ent["features"].([]any)); !slices.Equal(got, []string{"bids.day_ahead", "bids.manual_approval", "market.view", "reports.export"}) {
				t.Fatalf("after template: %v", got)
			}
			// The audit log has the actions, with the actor.
			evs, err := e.App.Store.ListAudit(ctx, storage.AuditFilter{OrgID: acme.ID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, ev := range evs {
				types = append(types, ev.Type)
			}
			if !slices.Contains(types, "features_changed") || !slices.Contains(types, "template_applied") {
				t.Fatalf("audit types %v", types)
			}
		})
	}
}

// hundredFeatures: an enterprise organization with 100 features on, a
// quarter of them configured, keys shaped like the real catalogue's
// (category.capability, 16 characters on average).
func hundredFeatures(c *app.Config) {
	c.Bootstrap.Organizations[0].Plan = "enterprise"
	cats := []string{"market", "bids", "portfolio", "reports", "risk", "api", "settlement", "analytics"}
	words := []string{"day_ahead", "intraday", "auto", "approval", "limits", "alerts", "export", "forecast", "hedging",
		"positions", "exposure", "nominations", "invoices", "imbalance", "balancing", "ancillary", "capacity"}
	for i := range 100 {
		f := app.BootstrapFeature{Key: cats[i%len(cats)] + "." + words[i/len(cats)], Name: fmt.Sprintf("Capability %d", i),
			Category: cats[i%len(cats)], Plans: []string{"enterprise"}}
		if i%4 == 0 {
			f.Config = map[string]any{"limit": i * 10}
		}
		c.Bootstrap.Features = append(c.Bootstrap.Features, f)
	}
}

// The budget: an ID token with the entitlements of an organization
// with 100 features stays under 4 KB, and refreshing one (claims
// recomputed) takes no more than two SQL round trips.
func TestEntitlementsTokenBudget(t *testing.T) {
	t.Parallel()
	qc := &apptest.QueryCounter{}
	e := apptest.New(t, "postgres", hundredFeatures, func(c *app.Config) { c.Storage.Postgres.Tracer = qc })
	code, v := e.CodeFor(e.Browser(), map[string]string{"scope": "openid profile email org entitlements offline_access"})
	_, raw := e.Exchange(code, v)
	tok := apptest.DecodeToken(t, raw)
	if keys, _ := featuresOf(t, tok.IDToken); len(keys) != 100 {
		t.Fatalf("%d features in the ID token", len(keys))
	}
	t.Logf("ID token with 100 features: %d bytes; access token: %d bytes", len(tok.IDToken), len(tok.AccessToken))
	if len(tok.IDToken) >= 4096 {
		t.Fatalf("ID token is %d bytes", len(tok.IDToken))
	}
	before := qc.Settle()
	_, raw = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
	if keys, _ := featuresOf(t, apptest.DecodeToken(t, raw).IDToken); len(keys) != 100 {
		t.Fatalf("%d features after refresh", len(keys))
	}
	if n := qc.N() - before; n > 2 {
		t.Fatalf("refresh took %d SQL round trips", n)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
