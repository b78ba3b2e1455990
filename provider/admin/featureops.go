package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/optibid/idp/provider/entitlements"
	"github.com/optibid/idp/storage"
)

// ErrTemplateUnknownFeature: a template names a feature the catalogue
// does not have (the catalogue changed after the template was written).
var ErrTemplateUnknownFeature = errors.New("admin: template names an unknown feature")

// ChangeFeature turns one feature of the organization on or off (with its
// configuration) under the dependency and conflict rules, and stores the
// result with its change log and ev, whose type and details it fills. The
// API and the CLI both change features through here. Errors:
// *entitlements.RuleError (Reason "unknown" for a feature not in the
// catalogue), or the store's.
func (h *Handler) ChangeFeature(ctx context.Context, o storage.Organization, actorID string, ch entitlements.Change, cascade bool, ev storage.AuditEvent) error {
	settings, err := h.Store.OrgFeatureSettings(ctx, o.ID)
	if err != nil {
		return err
	}
	writes, err := h.Catalogue().Apply(o.Plan, h.ToSettings(settings), ch, cascade)
	if err != nil {
		return err
	}
	return h.storeSettings(ctx, o, actorID, "", writes, ev)
}

// ApplyTemplate writes a template's settings to the organization when the
// resulting state keeps every rule, logging the application. Errors:
// storage.ErrNotFound (no such template), ErrTemplateUnknownFeature,
// *entitlements.RuleError, or the store's.
func (h *Handler) ApplyTemplate(ctx context.Context, o storage.Organization, actorID, templateID string, ev storage.AuditEvent) error {
	t, err := h.Store.TemplateByID(ctx, templateID)
	if err != nil {
		return err
	}
	var tpl map[string]entitlements.Setting
	if err := json.Unmarshal(t.Features, &tpl); err != nil {
		return fmt.Errorf("template %s: %w", t.ID, err)
	}
	cat := h.Catalogue()
	for k := range tpl {
		if _, ok := cat[k]; !ok {
			return fmt.Errorf("%w: %s", ErrTemplateUnknownFeature, k)
		}
	}
	settings, err := h.Store.OrgFeatureSettings(ctx, o.ID)
	if err != nil {
		return err
	}
	next := h.ToSettings(settings)
	maps.Copy(next, tpl)
	if err := cat.Check(o.Plan, next); err != nil {
		return err
	}
	return h.storeSettings(ctx, o, actorID, t.ID, tpl, ev)
}

// storeSettings writes settings, the change log and the audit row in one
// transaction.
func (h *Handler) storeSettings(ctx context.Context, o storage.Organization, actorID, templateID string, writes map[string]entitlements.Setting, ev storage.AuditEvent) error {
	stored := make(map[string]storage.FeatureSetting, len(writes))
	for k, s := range writes {
		var cfg []byte
		if s.Config != nil {
			cfg, _ = json.Marshal(s.Config)
		}
		stored[k] = storage.FeatureSetting{Enabled: s.Enabled, Config: cfg}
	}
	ev.Type, ev.OrgID = "features_changed", o.ID
	ev.Details = map[string]string{"features": strings.Join(slices.Sorted(maps.Keys(writes)), ",")}
	if templateID != "" {
		ev.Type, ev.Details["template"] = "template_applied", templateID
	}
	return h.Store.ApplyFeatureSettings(ctx, o.ID, stored, actorID, templateID, h.Now().UTC(), ev)
}
