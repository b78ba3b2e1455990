package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// ErrTemplateUnknownFeature: a template names a feature the catalogue
// does not have (the catalogue changed after the template was written).
var ErrTemplateUnknownFeature = errors.New("admin: template names an unknown feature")

// ErrConfigOperatorOnly: a feature's configuration (its limits, such as
// max_bid_mw) is set by the platform operator; organizations switch
// features on and off.
var ErrConfigOperatorOnly = errors.New("admin: feature configuration is the operator's")

// PlanError: the change would switch on a feature outside the
// organization's plan, which only a platform operator may do (an audited
// override).
type PlanError struct{ Feature, Plan string }

func (e *PlanError) Error() string {
	return "admin: feature " + e.Feature + " is not part of the " + e.Plan + " plan"
}

// Actor says who changes features: operator is a platform operator (a
// platform admin, or the CLI), who may switch on features outside the
// plan; such an override is named in the audit row.
type Actor struct {
	ID       string
	Operator bool
}

// outsidePlan returns the first feature writes switch on that the plan
// does not include ("" when none).
func (h *Handler) outsidePlan(plan string, writes map[string]entitlements.Setting) string {
	cat := h.Catalogue()
	for _, k := range slices.Sorted(maps.Keys(writes)) {
		if f, ok := cat[k]; ok && writes[k].Enabled && !slices.Contains(f.Plans, plan) {
			return k
		}
	}
	return ""
}

// ChangeFeature turns one feature of the organization on or off (with its
// configuration) under the dependency and conflict rules, and stores the
// result with its change log and ev, whose type and details it fills. The
// API and the CLI both change features through here. Errors:
// *entitlements.RuleError (Reason "unknown" for a feature not in the
// catalogue), *PlanError, or the store's.
func (h *Handler) ChangeFeature(ctx context.Context, o storage.Organization, a Actor, ch entitlements.Change, cascade bool, ev storage.AuditEvent) error {
	if ch.Config != nil && !a.Operator {
		return ErrConfigOperatorOnly
	}
	settings, err := h.Store.OrgFeatureSettings(ctx, o.ID)
	if err != nil {
		return err
	}
	writes, err := h.Catalogue().Apply(o.Plan, h.ToSettings(settings), ch, cascade)
	if err != nil {
		return err
	}
	return h.storeSettings(ctx, o, a, "", writes, ev)
}

// ApplyTemplate writes a template's settings to the organization when the
// resulting state keeps every rule, logging the application. Errors:
// storage.ErrNotFound (no such template), ErrTemplateUnknownFeature,
// *entitlements.RuleError, or the store's.
func (h *Handler) ApplyTemplate(ctx context.Context, o storage.Organization, a Actor, templateID string, ev storage.AuditEvent) error {
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
	return h.storeSettings(ctx, o, a, t.ID, tpl, ev)
}

// storeSettings writes settings, the change log and the audit row in one
// transaction.
// A feature outside the plan is switched on only by an operator, and the
// row says it was an override.
func (h *Handler) storeSettings(ctx context.Context, o storage.Organization, a Actor, templateID string, writes map[string]entitlements.Setting, ev storage.AuditEvent) error {
	outside := h.outsidePlan(o.Plan, writes)
	if outside != "" && !a.Operator {
		return &PlanError{Feature: outside, Plan: o.Plan}
	}
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
	if outside != "" {
		ev.Details["plan_override"] = outside
	}
	return h.Store.ApplyFeatureSettings(ctx, o.ID, stored, a.ID, templateID, h.Now().UTC(), ev)
}
