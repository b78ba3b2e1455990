package api

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// featureState lists the catalogue with the organization's state.
func (h *Handler) featureState(r *http.Request, o storage.Organization) (map[string]any, error) {
	settings, err := h.Store.OrgFeatureSettings(r.Context(), o.ID)
	if err != nil {
		return nil, err
	}
	cat := h.Catalogue()
	eff := cat.Effective(o.Plan, entitlements.SettingsFromStorage(settings))
	type fv struct {
		entitlements.Feature
		Enabled bool           `json:"enabled"`
		Source  string         `json:"source"` // plan, override or off
		Current map[string]any `json:"current_config,omitempty"`
	}
	list := []fv{}
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
	ch := entitlements.Change{Key: mux.Vars(r)["feature"], Enabled: body.Enabled, Config: body.Config}
	h.answerSettings(w, r, o, h.rules.ChangeFeature(r.Context(), o, c.actor(r), ch, body.Cascade))
}

// applyTemplate writes a template's settings, if the resulting state keeps
// every dependency and conflict rule.
func (h *Handler) applyTemplate(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	h.answerSettings(w, r, o, h.rules.ApplyTemplate(r.Context(), o, c.actor(r), mux.Vars(r)["template"]))
}

// answerSettings maps the outcome of a settings write and answers the
// new state.
func (h *Handler) answerSettings(w http.ResponseWriter, r *http.Request, o storage.Organization, err error) {
	var re *entitlements.RuleError
	var pe *manage.PlanError
	switch {
	case errors.Is(err, manage.ErrConfigOperatorOnly):
		fail(w, http.StatusForbidden, "config_operator_only", "A feature's configuration is set by the platform operator; you can switch features of your plan on and off.")
		return
	case errors.As(err, &pe):
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "plan_required", "feature": pe.Feature, "plan": pe.Plan,
			"message": "The feature " + pe.Feature + " is not part of the " + pe.Plan + " plan; the platform operator can enable it as an override."})
		return
	case errors.As(err, &re) && re.Reason == "unknown", errors.Is(err, storage.ErrNotFound):
		notFound(w)
		return
	case errors.As(err, &re):
		ruleConflict(w, re)
		return
	case errors.Is(err, manage.ErrTemplateUnknownFeature):
		fail(w, http.StatusConflict, "feature_rule", "The template names a feature the catalogue does not have.")
		return
	case err != nil:
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

// listTemplates shows the templates an organization can apply.
func (h *Handler) listTemplates(w http.ResponseWriter, r *http.Request, _ caller, _ storage.Organization, _ string) {
	ts, err := h.Store.ListTemplates(r.Context())
	if err != nil {
		h.internal(w, r, "templates", err)
		return
	}
	type tv struct {
		ID          string          `json:"id"`
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Features    json.RawMessage `json:"features"`
	}
	out := make([]tv, 0, len(ts))
	for _, t := range ts {
		out = append(out, tv{t.ID, t.Name, t.Description, t.Features})
	}
	writeJSON(w, http.StatusOK, map[string]any{"templates": out})
}
