package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// An owner switches features on and off; their configuration (paid
// limits) is the operator's.
func TestFeatureConfigurationIsTheOperators(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "memory")
	owner := e.TokenOf(apptest.UserEmail)
	if st, body := e.API("PUT", "/orgs/"+acme.ID+"/features/market.view", owner, map[string]any{"enabled": true, "config": map[string]any{"tier": "enterprise"}}); st != http.StatusForbidden || body["error"] != "config_operator_only" {
		t.Fatalf("owner configuring a feature: %d %v", st, body)
	}
}

// Plans are enforced: an owner cannot switch on a feature outside the
// organization's plan (plan_required), nor change the plan; the platform
// operator can, as an audited override.
func TestFeaturesOutsideThePlanNeedTheOperator(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, apptest.Catalogue)
			ctx := context.Background()
			acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme") // free plan
			owner := e.TokenOf(apptest.UserEmail)
			base := "/orgs/" + acme.ID
			st, body := e.API("PUT", base+"/features/bids.day_ahead", owner, map[string]any{"enabled": true})
			if st != http.StatusForbidden || body["error"] != "plan_required" || body["feature"] != "bids.day_ahead" {
				t.Fatalf("owner enabling a feature outside the plan: %d %v", st, body)
			}
			if st, body := e.API("PATCH", base, owner, map[string]any{"plan": "enterprise"}); st != http.StatusForbidden {
				t.Fatalf("owner upgrading their own plan: %d %v", st, body)
			}
			ada := e.User(apptest.UserEmail)
			if err := e.App.Store.SetPlatformAdmin(ctx, ada.ID, true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			operator := e.TokenOf(apptest.UserEmail)
			if st, body := e.API("PUT", base+"/features/bids.day_ahead", operator, map[string]any{"enabled": true}); st != http.StatusOK {
				t.Fatalf("operator override: %d %v", st, body)
			}
			evs, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{OrgID: acme.ID, Type: "features_changed"})
			if len(evs) != 1 || evs[0].Details["plan_override"] != "bids.day_ahead" {
				t.Fatalf("override not audited as such: %+v", evs)
			}
		})
	}
}

// Configuration is the operator's: a tenant switching a feature off and on
// keeps the limits the operator set.
func TestTenantTogglesKeepOperatorConfig(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "memory", apptest.Catalogue)
	ctx := t.Context()
	dave := e.User("dave@example.com")
	if err := e.App.Store.SetPlatformAdmin(ctx, dave.ID, true, storage.AuditEvent{Type: "platform_admin_granted"}); err != nil {
		t.Fatal(err)
	}
	if err := e.App.Store.SetPlan(ctx, acme.ID, "professional", storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	op, ada := e.TokenOf("dave@example.com"), e.TokenOf(apptest.UserEmail)
	if st, b := e.API("PUT", "/orgs/acme/features/bids.day_ahead", op, map[string]any{"enabled": true, "config": map[string]any{"max_bid_mw": 5}}); st != 200 {
		t.Fatalf("operator's config: %d %v", st, b)
	}
	limit := func() any {
		_, b := e.API("GET", "/orgs/acme/features", ada, nil)
		for _, f := range b["features"].([]any) {
			if f := f.(map[string]any); f["key"] == "bids.day_ahead" {
				if cur, ok := f["current_config"].(map[string]any); ok {
					return cur["max_bid_mw"]
				}
			}
		}
		return nil
	}
	for _, on := range []bool{true, false, true} {
		if st, b := e.API("PUT", "/orgs/acme/features/bids.day_ahead", ada, map[string]any{"enabled": on}); st != 200 {
			t.Fatalf("tenant toggle %v: %d %v", on, st, b)
		}
	}
	if got := limit(); got != float64(5) {
		t.Fatalf("max_bid_mw after the tenant's toggles: %v, want the operator's 5", got)
	}
}
