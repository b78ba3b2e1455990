package manage

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

// ErrTemplateUnknownFeature means a template names a feature the catalogue
// does not have (the catalogue changed after the template was written).
var ErrTemplateUnknownFeature = errors.New("manage: template names an unknown feature")

// ErrConfigOperatorOnly means a feature's configuration (its limits, such as
// max_bid_mw) is set by the platform operator; organizations switch
// features on and off.
var ErrConfigOperatorOnly = errors.New("manage: feature configuration is the operator's")

// PlanError means the change would switch on a feature outside the
// organization's plan, which only a platform operator may do (an audited
// override).
type PlanError struct{ Feature, Plan string }

func (e *PlanError) Error() string {
	return "manage: feature " + e.Feature + " is not part of the " + e.Plan + " plan"
}

// catalogue is the feature catalogue: the caller's cached one, else read
// from the store.
func (s *Service) catalogue(ctx context.Context) (entitlements.Catalogue, error) {
	if s.Catalogue != nil {
		return s.Catalogue(), nil
	}
	defs, err := s.Store.ListFeatures(ctx)
	if err != nil {
		return entitlements.Catalogue{}, fmt.Errorf("feature catalogue: %w", err)
	}
	return entitlements.FromStorage(defs), nil
}

// outsidePlan returns the first feature writes switch on that the plan
// does not include ("" when none).
func outsidePlan(cat entitlements.Catalogue, plan string, writes map[string]entitlements.Setting) string {
	for _, k := range slices.Sorted(maps.Keys(writes)) {
		if f, ok := cat[k]; ok && writes[k].Enabled && !slices.Contains(f.Plans, plan) {
			return k
		}
	}
	return ""
}

// ChangeFeature turns one feature of the organization on or off (with its
// configuration) under the dependency and conflict rules, and stores the
// result with its change log and audit row. The API, the console and the
// CLI all change features through here. Errors:
// *entitlements.RuleError (Reason "unknown" for a feature not in the
// catalogue), *PlanError, or the store's.
func (s *Service) ChangeFeature(ctx context.Context, o storage.Organization, a Actor, ch entitlements.Change, cascade bool) error {
	if ch.Config != nil && !a.Operator {
		return ErrConfigOperatorOnly
	}
	settings, err := s.Store.OrgFeatureSettings(ctx, o.ID)
	if err != nil {
		return err
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return err
	}
	writes, err := cat.Apply(o.Plan, entitlements.SettingsFromStorage(settings), ch, cascade)
	if err != nil {
		return err
	}
	return s.storeSettings(ctx, o, a, "", writes)
}

// ApplyTemplate writes a template's settings to the organization when the
// resulting state keeps every rule, logging the application. Errors:
// storage.ErrNotFound (no such template), ErrTemplateUnknownFeature,
// *entitlements.RuleError, or the store's.
func (s *Service) ApplyTemplate(ctx context.Context, o storage.Organization, a Actor, templateID string) error {
	t, err := s.Store.TemplateByID(ctx, templateID)
	if err != nil {
		return err
	}
	var tpl map[string]entitlements.Setting
	if err := json.Unmarshal(t.Features, &tpl); err != nil {
		return fmt.Errorf("template %s: %w", t.ID, err)
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return err
	}
	for k := range tpl {
		if _, ok := cat[k]; !ok {
			return fmt.Errorf("%w: %s", ErrTemplateUnknownFeature, k)
		}
	}
	settings, err := s.Store.OrgFeatureSettings(ctx, o.ID)
	if err != nil {
		return err
	}
	next := entitlements.SettingsFromStorage(settings)
	maps.Copy(next, tpl)
	if err := cat.Check(o.Plan, next); err != nil {
		return err
	}
	return s.storeSettings(ctx, o, a, t.ID, tpl)
}

// storeSettings writes settings, the change log and the audit row in one
// transaction.
// A feature outside the plan is switched on only by an operator, and the
// row says it was an override.
func (s *Service) storeSettings(ctx context.Context, o storage.Organization, a Actor, templateID string, writes map[string]entitlements.Setting) error {
	cat, err := s.catalogue(ctx)
	if err != nil {
		return err
	}
	outside := outsidePlan(cat, o.Plan, writes)
	if outside != "" && !a.Operator {
		return &PlanError{Feature: outside, Plan: o.Plan}
	}
	// Configuration is the operator's: a write that names none (a tenant
	// switching a feature off and on, a template) keeps the stored one, so
	// a limit the operator set survives the tenant's toggles.
	current, err := s.Store.OrgFeatureSettings(ctx, o.ID)
	if err != nil {
		return err
	}
	stored := make(map[string]storage.FeatureSetting, len(writes))
	for k, w := range writes {
		cfg := current[k].Config
		if w.Config != nil {
			cfg, _ = json.Marshal(w.Config)
		}
		stored[k] = storage.FeatureSetting{Enabled: w.Enabled, Config: cfg}
	}
	typ, details := EventFeaturesChanged, map[string]string{"features": strings.Join(slices.Sorted(maps.Keys(writes)), ",")}
	if templateID != "" {
		typ, details["template"] = EventTemplateApplied, templateID
	}
	if outside != "" {
		details["plan_override"] = outside
	}
	return s.Store.ApplyFeatureSettings(ctx, o.ID, stored, a.UserID, templateID, s.now(),
		a.Event(s.now(), typ, About{Org: o.ID, Details: details}))
}

// Effective is the organization's effective features (its plan, its
// settings, the catalogue's rules) with their configuration.
func (s *Service) Effective(ctx context.Context, org storage.Organization) (map[string]map[string]any, error) {
	cat, err := s.catalogue(ctx)
	if err != nil {
		return nil, err
	}
	settings, err := s.Store.OrgFeatureSettings(ctx, org.ID)
	if err != nil {
		return nil, fmt.Errorf("feature settings: %w", err)
	}
	return cat.Effective(org.Plan, entitlements.SettingsFromStorage(settings)), nil
}

// FeatureState is a catalogue feature and, for an organization, whether
// it is on (nil without an organization).
type FeatureState struct {
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	Category  string   `json:"category"`
	Plans     []string `json:"plans"`
	Requires  []string `json:"requires"`
	Conflicts []string `json:"conflicts"`
	Enabled   *bool    `json:"enabled,omitempty"`
}

// Features lists the catalogue, with org's state when org is set.
func (s *Service) Features(ctx context.Context, org storage.Organization) ([]FeatureState, error) {
	defs, err := s.Store.ListFeatures(ctx)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	var eff map[string]map[string]any
	if org.ID != "" {
		if eff, err = s.Effective(ctx, org); err != nil {
			return nil, err
		}
	}
	out := make([]FeatureState, 0, len(defs))
	for _, d := range defs {
		f := FeatureState{Key: d.Key, Name: d.Name, Category: d.Category, Plans: d.Plans, Requires: d.Requires, Conflicts: d.Conflicts}
		if org.ID != "" {
			_, on := eff[d.Key]
			f.Enabled = &on
		}
		out = append(out, f)
	}
	return out, nil
}

// TemplateView is a feature template with its settings decoded.
type TemplateView struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Features    map[string]any `json:"features"`
}

// Templates lists the feature templates.
func (s *Service) Templates(ctx context.Context) ([]TemplateView, error) {
	ts, err := s.Store.ListTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	out := make([]TemplateView, 0, len(ts))
	for _, t := range ts {
		v := TemplateView{ID: t.ID, Name: t.Name, Description: t.Description}
		_ = json.Unmarshal(t.Features, &v.Features)
		out = append(out, v)
	}
	return out, nil
}
