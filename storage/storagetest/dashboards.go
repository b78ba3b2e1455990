package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/optibid/idp/storage"
)

// testDashboards: the widget library, per-user layouts and usage counters;
// erasure takes the user's layouts and usage along.
func testDashboards(t *testing.T, s storage.Store) {
	o, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "dash", Name: "Dash"}, storage.AuditEvent{})
	must(t, err)
	u := newUser(t, s)
	must(t, s.UpsertWidget(ctx, storage.Widget{Key: "prices", Name: "Prices", RequiredFeatures: []string{"market.view"}, Config: []byte(`{"rows":10}`)}, ev("widget_defined")))
	must(t, s.UpsertWidget(ctx, storage.Widget{Key: "bids", Name: "Bids", RequiredFeatures: []string{"bids.day_ahead"}}, storage.AuditEvent{}))
	ws, err := s.ListWidgets(ctx)
	must(t, err)
	if len(ws) != 2 || ws[1].Key != "prices" || ws[1].RequiredFeatures[0] != "market.view" {
		t.Fatalf("widgets: %+v", ws)
	}
	jsonEq(t, ws[1].Config, `{"rows":10}`)
	if _, err := s.Dashboard(ctx, u.ID, o.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no layout yet: %v", err)
	}
	must(t, s.SetDashboard(ctx, u.ID, o.ID, []byte(`{"widgets":[{"key":"prices"}]}`), now()))
	must(t, s.SetDashboard(ctx, u.ID, o.ID, []byte(`{"widgets":[{"key":"bids"}]}`), now()))
	got, err := s.Dashboard(ctx, u.ID, o.ID)
	must(t, err)
	jsonEq(t, got, `{"widgets":[{"key":"bids"}]}`)
	day := time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC)
	for range 3 {
		must(t, s.RecordUsage(ctx, storage.UsageCount{OrgID: o.ID, UserID: u.ID, FeatureKey: "market.view", Day: day, Count: 2}))
	}
	must(t, s.RecordUsage(ctx, storage.UsageCount{OrgID: o.ID, FeatureKey: "market.view", Day: day.AddDate(0, 0, 1), Count: 1}))
	usage, err := s.UsageOf(ctx, o.ID, day.AddDate(0, 0, -1), day.AddDate(0, 0, 1))
	must(t, err)
	if len(usage) != 1 || usage[0].Count != 6 || !usage[0].Day.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) || usage[0].UserID != u.ID {
		t.Fatalf("usage: %+v", usage)
	}
	d, err := s.UserData(ctx, u.ID)
	must(t, err)
	jsonEq(t, d.Dashboards[o.ID], `{"widgets":[{"key":"bids"}]}`)
	if len(d.Usage) != 1 || d.Usage[0].Count != 6 || d.Usage[0].FeatureKey != "market.view" {
		t.Fatalf("user data usage: %+v", d.Usage)
	}
	must(t, s.EraseUser(ctx, u.ID, "erased-dash", storage.AuditEvent{}))
	if usage, _ := s.UsageOf(ctx, o.ID, day.AddDate(0, 0, -1), day.AddDate(0, 0, 2)); len(usage) != 1 || usage[0].UserID != "" {
		t.Fatalf("usage after erasure: %+v", usage)
	}
	if _, err := s.Dashboard(ctx, u.ID, o.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("layout after erasure: %v", err)
	}
}
