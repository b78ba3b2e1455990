package entitlements_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/optibid/idp/manage/entitlements"
)

var cat = entitlements.NewCatalogue([]entitlements.Feature{
	{Key: "market_data", Plans: []string{"free", "professional", "enterprise"}},
	{Key: "bidding", Plans: []string{"professional", "enterprise"}, Requires: []string{"market_data"}, Config: map[string]any{"max_bids": 10.0}},
	{Key: "auto_bidding", Plans: []string{"enterprise"}, Requires: []string{"bidding"}},
	{Key: "manual_only", Conflicts: []string{"auto_bidding"}},
	{Key: "reports"},
})

func TestEffective(t *testing.T) {
	eff := cat.Effective("professional", nil)
	if len(eff) != 2 || eff["bidding"]["max_bids"] != 10.0 {
		t.Fatalf("plan defaults: %v", eff)
	}
	eff = cat.Effective("professional", map[string]entitlements.Setting{
		"reports": {Enabled: true}, "bidding": {Enabled: true, Config: map[string]any{"max_bids": 50.0}}, "retired": {Enabled: true},
		"market_data": {Enabled: true},
	})
	if _, ok := eff["reports"]; !ok || eff["bidding"]["max_bids"] != 50.0 || len(eff) != 3 {
		t.Fatalf("overrides: %v", eff)
	}
	if eff := cat.Effective("enterprise", map[string]entitlements.Setting{"auto_bidding": {Enabled: false}}); eff["auto_bidding"] != nil {
		t.Fatal("override off")
	}
}

func TestApplyRules(t *testing.T) {
	cases := []struct {
		name    string
		plan    string
		set     map[string]entitlements.Setting
		ch      entitlements.Change
		cascade bool
		reason  string
		writes  int
	}{
		{"enable needs dependency", "free", nil, entitlements.Change{Key: "bidding", Enabled: true}, false, "", 1},
		{"dependency off", "free", map[string]entitlements.Setting{"market_data": {}}, entitlements.Change{Key: "bidding", Enabled: true}, false, "requires", 0},
		{"conflict", "enterprise", nil, entitlements.Change{Key: "manual_only", Enabled: true}, false, "conflicts", 0},
		{"conflict other way", "free", map[string]entitlements.Setting{"manual_only": {Enabled: true}, "bidding": {Enabled: true}},
			entitlements.Change{Key: "auto_bidding", Enabled: true}, false, "conflicts", 0},
		{"disable required", "enterprise", nil, entitlements.Change{Key: "market_data"}, false, "required_by", 0},
		{"disable cascades", "enterprise", nil, entitlements.Change{Key: "market_data"}, true, "", 3},
		{"unknown", "free", nil, entitlements.Change{Key: "nope", Enabled: true}, false, "unknown", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := cat.Apply(tc.plan, tc.set, tc.ch, tc.cascade)
			var re *entitlements.RuleError
			if tc.reason == "" {
				if err != nil || len(w) != tc.writes {
					t.Fatalf("writes %v, err %v", w, err)
				}
				return
			}
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("want %s, got %v", tc.reason, err)
			}
			if tc.reason != "unknown" && (re.Other == "" || re.Feature == "") {
				t.Fatalf("error must name both features: %v", err)
			}
		})
	}
}

// An ID token with the entitlements claim of an organization with 100
// features must stay under 4 KB; the claim itself gets a budget here
// (the ID token test measures the whole token).
func TestClaimSize(t *testing.T) {
	var defs []entitlements.Feature
	for i := range 100 {
		f := entitlements.Feature{Key: fmt.Sprintf("feature_%03d", i), Plans: []string{"enterprise"}}
		if i%10 == 0 {
			f.Config = map[string]any{"limit": 100}
		}
		defs = append(defs, f)
	}
	claim := entitlements.Claim(entitlements.NewCatalogue(defs).Effective("enterprise", nil))
	b, _ := json.Marshal(claim)
	t.Logf("entitlements claim for 100 features: %d bytes", len(b))
	if n := len(claim["features"].([]string)); n != 100 || len(b) > 1800 {
		t.Fatalf("claim %d features, %d bytes", n, len(b))
	}
}

// Only small configuration values reach the compact claim.
func TestClaimSmallConfig(t *testing.T) {
	long := strings.Repeat("x", entitlements.SmallConfig)
	claim := entitlements.Claim(map[string]map[string]any{
		"a": {"limit": 5, "formats": []string{"csv", "pdf"}, "note": long},
		"b": {"note": long},
		"c": nil,
	})
	cfg := claim["config"].(map[string]any)
	if a := cfg["a"].(map[string]any); len(a) != 2 || a["limit"] != 5 || a["note"] != nil {
		t.Fatalf("config of a: %v", a)
	}
	if _, ok := cfg["b"]; ok || len(cfg) != 1 {
		t.Fatalf("config %v", cfg)
	}
	if keys := claim["features"].([]string); len(keys) != 3 {
		t.Fatalf("features %v", keys)
	}
}
