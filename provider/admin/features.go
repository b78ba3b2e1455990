package admin

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/provider/entitlements"
	"github.com/optibid/idp/storage"
)

// featureState lists the catalogue with the organization's state.
func (h *Handler) featureState(r *http.Request, o storage.Organization) (map[string]any, error) {
	settings, err := h.Store.OrgFeatureSettings(r.Context(), o.ID)
	if err != nil {
		return nil, err
	}
	cat := h.Catalogue()
	eff := cat.Effective(o.Plan, h.ToSettings(settings))
	type fv struct {
		entitlements.Feature
		Enabled bool           `json:"enabled"`
		Source  string         `json:"source"` // plan, override or off
		Current map[string]any `json:"current_config,omitempty"`
	}
	var list []fv
	for _, k := range slices.Sorted(maps.Keys(cat)) {
		f := cat[k]
		v := fv{Feature: f, Source: "off"}
		if cfg, on := eff[k]; on {
			v.Enabled, v.Current = true, cfg
		}
		if _, set := settings[k]; set {
			v.Source = "override"
		} else if v.Enabled {
			v.Source = "plan"
		}
		list = append(list, v)
	}
	return map[string]any{"plan": o.Plan, "features": list, "entitlements": entitlements.Claim(eff)}, nil
}

func (h *Handler) listFeatures(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	out, err := h.featureState(r, o)
	if err != nil {
		h.internal(w, r, "features", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func ruleConflict(w http.ResponseWriter, re *entitlements.RuleError) {
	writeJSON(w, http.StatusConflict, map[string]string{"error": "feature_rule", "message": re.Error(), "feature": re.Feature,
		"other": re.Other, "reason": re.Reason})
}

// setFeature turns one feature on or off under the dependency and conflict
// rules.
func (h *Handler) setFeature(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	var body struct {
		Enabled bool           `json:"enabled"`
		Config  map[string]any `json:"config"`
		Cascade bool           `json:"cascade"`
	}
	if !decode(w, r, &body) {
		return
	}
	key := mux.Vars(r)["feature"]
	settings, err := h.Store.OrgFeatureSettings(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "features", err)
		return
	}
	writes, err := h.Catalogue().Apply(o.Plan, h.ToSettings(settings), entitlements.Change{Key: key, Enabled: body.Enabled, Config: body.Config}, body.Cascade)
	var re *entitlements.RuleError
	if errors.As(err, &re) {
		if re.Reason == "unknown" {
			notFound(w)
			return
		}
		ruleConflict(w, re)
		return
	}
	h.writeSettings(w, r, c, o, writes, "")
}

// writeSettings stores settings (with the change log) and answers the new
// state.
func (h *Handler) writeSettings(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, writes map[string]entitlements.Setting, templateID string) {
	stored := make(map[string]storage.FeatureSetting, len(writes))
	keys := slices.Sorted(maps.Keys(writes))
	for k, s := range writes {
		cfg, _ := json.Marshal(s.Config)
		if s.Config == nil {
			cfg = nil
		}
		stored[k] = storage.FeatureSetting{Enabled: s.Enabled, Config: cfg}
	}
	typ, details := "features_changed", map[string]string{"features": strings.Join(keys, ",")}
	if templateID != "" {
		typ, details["template"] = "template_applied", templateID
	}
	if err := h.Store.ApplyFeatureSettings(r.Context(), o.ID, stored, c.user.ID, templateID, h.Now().UTC(), h.event(r, typ, c, o, "", details)); err != nil {
		h.internal(w, r, "write features", err)
		return
	}
	out, err := h.featureState(r, o)
	if err != nil {
		h.internal(w, r, "features", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// applyTemplate writes a template's settings, if the resulting state keeps
// every dependency and conflict rule.
func (h *Handler) applyTemplate(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	t, err := h.Store.TemplateByID(r.Context(), mux.Vars(r)["template"])
	if errors.Is(err, storage.ErrNotFound) {
		notFound(w)
		return
	}
	if err != nil {
		h.internal(w, r, "template", err)
		return
	}
	var tpl map[string]entitlements.Setting
	if err := json.Unmarshal(t.Features, &tpl); err != nil {
		h.internal(w, r, "template", err)
		return
	}
	settings, err := h.Store.OrgFeatureSettings(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "features", err)
		return
	}
	next := h.ToSettings(settings)
	maps.Copy(next, tpl)
	cat := h.Catalogue()
	for k := range tpl {
		if _, ok := cat[k]; !ok {
			fail(w, http.StatusConflict, "feature_rule", "The template names an unknown feature: "+k+".")
			return
		}
	}
	var re *entitlements.RuleError
	if err := cat.Check(o.Plan, next); errors.As(err, &re) {
		ruleConflict(w, re)
		return
	}
	h.writeSettings(w, r, c, o, tpl, t.ID)
}

func (h *Handler) featureChanges(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	changes, err := h.Store.FeatureChanges(r.Context(), o.ID, 200)
	if err != nil {
		h.internal(w, r, "changes", err)
		return
	}
	type sv struct {
		Enabled bool            `json:"enabled"`
		Config  json.RawMessage `json:"config,omitempty"`
	}
	view := func(s *storage.FeatureSetting) *sv {
		if s == nil {
			return nil
		}
		v := &sv{Enabled: s.Enabled}
		if len(s.Config) > 0 && string(s.Config) != "null" {
			v.Config = s.Config
		}
		return v
	}
	out := []map[string]any{}
	for _, ch := range changes {
		out = append(out, map[string]any{"feature": ch.FeatureKey, "actor_id": ch.ActorID, "template_id": ch.TemplateID,
			"before": view(ch.Before), "after": view(ch.After), "changed_at": ch.ChangedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": out})
}
