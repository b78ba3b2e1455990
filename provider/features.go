package provider

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// featureCatalogue keeps the feature catalogue in memory, so that tokens
// carry entitlements without reading it: loaded at start, reloaded by
// ReloadFeatures (periodically by cmd, and at once after an admin change).
type featureCatalogue struct {
	cat atomic.Pointer[entitlements.Catalogue]
}

// FromStorage converts stored definitions to the rules' form.
func FromStorage(defs []storage.FeatureDefinition) entitlements.Catalogue {
	out := make([]entitlements.Feature, 0, len(defs))
	for _, d := range defs {
		f := entitlements.Feature{Key: d.Key, Name: d.Name, Description: d.Description, Category: d.Category,
			Plans: d.Plans, Requires: d.Requires, Conflicts: d.Conflicts}
		_ = json.Unmarshal(d.Config, &f.Config)
		out = append(out, f)
	}
	return entitlements.NewCatalogue(out)
}

// SettingsFromStorage converts stored settings to the rules' form.
func SettingsFromStorage(in map[string]storage.FeatureSetting) map[string]entitlements.Setting {
	out := make(map[string]entitlements.Setting, len(in))
	for k, s := range in {
		e := entitlements.Setting{Enabled: s.Enabled}
		_ = json.Unmarshal(s.Config, &e.Config)
		out[k] = e
	}
	return out
}

// ReloadFeatures re-reads the catalogue; on failure the old one stays.
func (p *Provider) ReloadFeatures(ctx context.Context) error {
	defs, err := p.features.store.ListFeatures(ctx)
	if err != nil {
		slog.WarnContext(ctx, "feature catalogue reload failed; keeping the previous one", "error", err)
		return err
	}
	c := FromStorage(defs)
	p.features.cat.Store(&c)
	return nil
}

// Catalogue returns the current catalogue.
func (p *Provider) Catalogue() entitlements.Catalogue {
	if c := p.features.cat.Load(); c != nil {
		return *c
	}
	return entitlements.Catalogue{}
}

// entitlementsFor computes the organization's effective features.
func (p *Provider) entitlementsFor(o storage.OrgRole) map[string]map[string]any {
	if o.Org.ID == "" || o.Role == "" {
		return nil
	}
	return p.Catalogue().Effective(o.Org.Plan, SettingsFromStorage(o.Features))
}
