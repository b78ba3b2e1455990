package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// effective is the organization's enabled features with their config.
func (h *Handler) effective(r *http.Request, o storage.Organization) (map[string]map[string]any, error) {
	settings, err := h.Store.OrgFeatureSettings(r.Context(), o.ID)
	if err != nil {
		return nil, err
	}
	return h.Catalogue().Effective(o.Plan, entitlements.SettingsFromStorage(settings)), nil
}

type widgetView struct {
	Key              string          `json:"key"`
	Name             string          `json:"name"`
	Description      string          `json:"description,omitempty"`
	RequiredFeatures []string        `json:"required_features"`
	Config           json.RawMessage `json:"config,omitempty"`
	Available        bool            `json:"available"`
}

// widgets lists the library, marking what the organization's features
// make available.
func (h *Handler) widgets(r *http.Request, o storage.Organization) ([]widgetView, error) {
	eff, err := h.effective(r, o)
	if err != nil {
		return nil, err
	}
	ws, err := h.Store.ListWidgets(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]widgetView, 0, len(ws))
	for _, w := range ws {
		v := widgetView{Key: w.Key, Name: w.Name, Description: w.Description, RequiredFeatures: w.RequiredFeatures, Available: true}
		if v.RequiredFeatures == nil {
			v.RequiredFeatures = []string{}
		}
		if len(w.Config) > 0 && string(w.Config) != "{}" {
			v.Config = w.Config
		}
		for _, f := range w.RequiredFeatures {
			if _, on := eff[f]; !on {
				v.Available = false
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (h *Handler) listWidgets(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	list, err := h.widgets(r, o)
	if err != nil {
		h.internal(w, r, "widgets", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"widgets": list})
}

// maxLayout bounds a stored dashboard layout.
const maxLayout = 16 << 10

type layout struct {
	Widgets []struct {
		Key string `json:"key"`
	} `json:"widgets"`
}

func (h *Handler) getDashboard(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	raw, err := h.Store.Dashboard(r.Context(), c.user.ID, o.ID)
	if errors.Is(err, storage.ErrNotFound) {
		raw, err = []byte(`{"widgets":[]}`), nil
	}
	if err != nil {
		h.internal(w, r, "dashboard", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]json.RawMessage{"layout": raw})
}

// putDashboard stores the caller's layout in the organization. Every
// widget must exist and be available with the organization's features.
func (h *Handler) putDashboard(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	var body struct {
		Layout json.RawMessage `json:"layout"`
	}
	if !decode(w, r, &body) {
		return
	}
	var l layout
	if len(body.Layout) == 0 || len(body.Layout) > maxLayout || json.Unmarshal(body.Layout, &l) != nil || l.Widgets == nil {
		fail(w, http.StatusBadRequest, "invalid_request", `layout must be a JSON object with a "widgets" list, at most 16 KiB.`)
		return
	}
	lib, err := h.widgets(r, o)
	if err != nil {
		h.internal(w, r, "widgets", err)
		return
	}
	available := map[string]bool{}
	for _, x := range lib {
		available[x.Key] = x.Available
	}
	for _, x := range l.Widgets {
		if on, known := available[x.Key]; !known || !on {
			fail(w, http.StatusUnprocessableEntity, "widget_unavailable", "Widget "+x.Key+" is unknown or needs features this organization has not enabled.")
			return
		}
	}
	if err := h.Store.SetDashboard(r.Context(), c.user.ID, o.ID, body.Layout, h.Now().UTC()); err != nil {
		h.internal(w, r, "dashboard", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]json.RawMessage{"layout": body.Layout})
}

// recordUsage counts the caller's use of an enabled feature today.
func (h *Handler) recordUsage(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	var body struct {
		Feature string `json:"feature"`
		Count   int64  `json:"count"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Count == 0 {
		body.Count = 1
	}
	if body.Count < 1 || body.Count > 10000 {
		fail(w, http.StatusBadRequest, "invalid_request", "count must be 1 to 10000.")
		return
	}
	eff, err := h.effective(r, o)
	if err != nil {
		h.internal(w, r, "features", err)
		return
	}
	if _, on := eff[body.Feature]; !on {
		fail(w, http.StatusConflict, "feature_disabled", "Feature "+body.Feature+" is not enabled for this organization.")
		return
	}
	if err := h.Store.RecordUsage(r.Context(), storage.UsageCount{OrgID: o.ID, UserID: c.user.ID, FeatureKey: body.Feature,
		Day: h.Now().UTC(), Count: body.Count}); err != nil {
		h.internal(w, r, "usage", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// usage reports counters by day (since and until are dates, until
// exclusive, or ages such as 7d: the day that long ago; the last 30 days
// by default, at most 366).
func (h *Handler) usage(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	today := h.Now().UTC().Truncate(24 * time.Hour)
	until, since := today.AddDate(0, 0, 1), today.AddDate(0, 0, -29)
	for name, dst := range map[string]*time.Time{"since": &since, "until": &until} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				if t, err = parseWhen(v, h.Now()); err != nil || strings.Contains(v, "T") {
					writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: name,
						Message: name + " must be a date (YYYY-MM-DD) or an age such as 7d."})
					return
				}
				t = t.UTC().Truncate(24 * time.Hour)
			}
			*dst = t
		}
	}
	if !since.Before(until) || until.Sub(since) > 366*24*time.Hour {
		fail(w, http.StatusBadRequest, "invalid_request", "since must be before until, at most 366 days apart.")
		return
	}
	counts, err := h.Store.UsageOf(r.Context(), o.ID, since, until)
	if err != nil {
		h.internal(w, r, "usage", err)
		return
	}
	type row struct {
		Day     string `json:"day"`
		Feature string `json:"feature"`
		UserID  string `json:"user_id,omitempty"`
		Count   int64  `json:"count"`
	}
	rows := make([]row, 0, len(counts))
	totals := map[string]int64{}
	for _, u := range counts {
		rows = append(rows, row{u.Day.Format(time.DateOnly), u.FeatureKey, u.UserID, u.Count})
		totals[u.FeatureKey] += u.Count
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": since.Format(time.DateOnly), "until": until.Format(time.DateOnly),
		"usage": rows, "totals": totals})
}
