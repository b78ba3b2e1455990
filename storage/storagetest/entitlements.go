package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func testEntitlements(t *testing.T, s storage.Store) {
	org, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "ent", Name: "Ent"}, storage.AuditEvent{})
	if org.Plan != "free" {
		t.Fatalf("default plan %q", org.Plan)
	}
	must(t, s.SetPlan(ctx, org.ID, "enterprise", ev("plan_changed")))
	for _, f := range []storage.FeatureDefinition{
		{Key: "market_data", Name: "Market data", Plans: []string{"free", "enterprise"}},
		{Key: "bidding", Name: "Bidding", Plans: []string{"enterprise"}, Requires: []string{"market_data"}, Config: []byte(`{"max_bids":10}`)},
	} {
		must(t, s.UpsertFeature(ctx, f, storage.AuditEvent{}))
	}
	defs, _ := s.ListFeatures(ctx)
	if len(defs) != 2 || defs[0].Key != "bidding" || defs[0].Requires[0] != "market_data" {
		t.Fatalf("features: %+v", defs)
	}
	jsonEq(t, defs[0].Config, `{"max_bids":10}`)
	at := now()
	must(t, s.ApplyFeatureSettings(ctx, org.ID, map[string]storage.FeatureSetting{"bidding": {Enabled: true, Config: []byte(`{"max_bids":50}`)}},
		"admin-1", "", at, ev("features_changed")))
	must(t, s.UpsertTemplate(ctx, storage.FeatureTemplate{ID: "starter", Name: "Starter", Features: []byte(`{"bidding":{"enabled":false}}`)}, storage.AuditEvent{}))
	must(t, s.ApplyFeatureSettings(ctx, org.ID, map[string]storage.FeatureSetting{"bidding": {Enabled: false}}, "admin-2", "starter", at.Add(time.Second), storage.AuditEvent{}))
	settings, err := s.OrgFeatureSettings(ctx, org.ID)
	must(t, err)
	if b := settings["bidding"]; b.Enabled || b.ChangedBy != "admin-2" {
		t.Fatalf("settings: %+v", settings)
	}
	changes, _ := s.FeatureChanges(ctx, org.ID, 10)
	if len(changes) != 2 || changes[0].TemplateID != "starter" || changes[0].Before == nil || !changes[0].Before.Enabled ||
		changes[0].After.Enabled || changes[1].Before != nil {
		t.Fatalf("change log: %+v", changes)
	}
	if apps, _ := s.TemplateApplications(ctx, org.ID); len(apps) != 1 || apps[0].TemplateID != "starter" || apps[0].AppliedBy != "admin-2" {
		t.Fatalf("applications: %+v", apps)
	}
	if tpl, err := s.TemplateByID(ctx, "starter"); err != nil || tpl.Name != "Starter" {
		t.Fatalf("template: %+v %v", tpl, err)
	}
	if _, err := s.TemplateByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.ApplyFeatureSettings(ctx, org.ID, map[string]storage.FeatureSetting{"unknown": {Enabled: true}}, "x", "", at, storage.AuditEvent{}); err == nil {
		t.Fatal("setting for an unknown feature accepted")
	}
	// The grant lookups carry the plan and the settings.
	u := newUser(t, s)
	must(t, s.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: "member"}, storage.AuditEvent{}))
	arq := storage.AuthRequest{ID: random.ID(), ClientID: "web", RedirectURI: "x", ResponseType: "code", BrowserHash: "b", CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, arq))
	must(t, s.SetAuthRequestOrg(ctx, arq.ID, org.ID))
	must(t, s.CompleteAuthRequest(ctx, arq.ID, u.ID, at, nil, "s"))
	code := random.Token(32)
	must(t, s.SaveAuthCode(ctx, arq.ID, storage.HashSecret(code), at.Add(time.Minute)))
	gid := random.ID()
	_, err = s.RedeemCode(ctx, storage.HashSecret(code), storage.CodeBinding{ClientID: "web", RedirectURI: "x"}, gid, at.Add(time.Hour), at, storage.AuditEvent{}, storage.AuditEvent{})
	must(t, err)
	st, err := s.AccessTokenState(ctx, "j", gid)
	must(t, err)
	if st.Org.Org.Plan != "enterprise" || len(st.Org.Features) != 1 || st.Org.Features["bidding"].Enabled {
		t.Fatalf("token state entitlements: %+v", st.Org)
	}
}
