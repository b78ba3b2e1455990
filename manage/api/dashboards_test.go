package api_test

import (
	"net/http"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// Widgets follow the organization's features, a user's layout may only
// hold available widgets, and usage is counted for enabled features only.
func TestDashboardsAndUsage(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, _ := adminEnv(t, backend, apptest.Catalogue, func(c *app.Config) {
				c.Bootstrap.Widgets = []app.BootstrapWidget{
					{Key: "prices", Name: "Prices", RequiredFeatures: []string{"market.view"}},
					{Key: "auto-bids", Name: "Automated bids", RequiredFeatures: []string{"bids.auto"}},
				}
			})
			base := "/orgs/" + acme.ID
			bob := e.TokenOf("bob@example.com") // member
			_, body := e.API("GET", base+"/widgets", bob, nil)
			avail := map[string]bool{}
			for _, w := range body["widgets"].([]any) {
				w := w.(map[string]any)
				avail[w["key"].(string)] = w["available"].(bool)
			}
			if !avail["prices"] || avail["auto-bids"] {
				t.Fatalf("availability: %v", avail)
			}
			if _, b := e.API("GET", base+"/dashboard", bob, nil); jsonString(b["layout"]) != `{"widgets":[]}` {
				t.Fatalf("default layout: %v", b)
			}
			layout := map[string]any{"layout": map[string]any{"widgets": []map[string]any{{"key": "prices", "x": 0, "y": 0}}}}
			if st, b := e.API("PUT", base+"/dashboard", bob, layout); st != http.StatusOK {
				t.Fatalf("put layout: %d %v", st, b)
			}
			if st, b := e.API("PUT", base+"/dashboard", bob, map[string]any{"layout": map[string]any{"widgets": []map[string]any{{"key": "auto-bids"}}}}); st != http.StatusUnprocessableEntity || b["error"] != "widget_unavailable" {
				t.Fatalf("unavailable widget stored: %d %v", st, b)
			}
			if st, _ := e.API("PUT", base+"/dashboard", bob, map[string]any{"layout": "not an object"}); st != http.StatusBadRequest {
				t.Fatalf("bad layout: %d", st)
			}
			if _, b := e.API("GET", base+"/dashboard", bob, nil); jsonString(b["layout"]) != `{"widgets":[{"key":"prices","x":0,"y":0}]}` {
				t.Fatalf("stored layout: %v", b)
			}
			// Usage.
			for range 2 {
				if st, _ := e.API("POST", base+"/usage", bob, map[string]any{"feature": "market.view", "count": 3}); st != http.StatusNoContent {
					t.Fatalf("record usage: %d", st)
				}
			}
			if st, b := e.API("POST", base+"/usage", bob, map[string]any{"feature": "bids.auto"}); st != http.StatusConflict || b["error"] != "feature_disabled" {
				t.Fatalf("usage of a disabled feature: %d %v", st, b)
			}
			if st, _ := e.API("GET", base+"/usage", e.TokenOf("dave@example.com"), nil); st != http.StatusNotFound {
				t.Fatalf("a non-member read usage: %d", st)
			}
			st, b := e.API("GET", base+"/usage", e.TokenOf(apptest.UserEmail), nil)
			if totals, _ := b["totals"].(map[string]any); st != http.StatusOK || totals["market.view"] != float64(6) {
				t.Fatalf("usage report: %d %v", st, b)
			}
			if st, _ := e.API("GET", base+"/usage?since=2020-01-01&until=2026-01-01", e.TokenOf(apptest.UserEmail), nil); st != http.StatusBadRequest {
				t.Fatalf("range over a year: %d", st)
			}
		})
	}
}
