package provider

import (
	"context"
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

// ReloadFeatures re-reads the catalogue; on failure the old one stays.
func (p *Provider) ReloadFeatures(ctx context.Context) error {
	defs, err := p.features.store.ListFeatures(ctx)
	if err != nil {
		slog.WarnContext(ctx, "feature catalogue reload failed; keeping the previous one", "error", err)
		return err
	}
	c := entitlements.FromStorage(defs)
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
	return p.Catalogue().Effective(o.Org.Plan, entitlements.SettingsFromStorage(o.Features))
}
