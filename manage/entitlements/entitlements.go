// Package entitlements holds the feature-flag rules of the platform: which
// features an organization has (its plan's defaults, overlaid with the
// settings that templates and administrators wrote), whether a change is
// allowed (dependencies and conflicts), and the compact claim apps read.
// Pure functions over plain data; storage and HTTP live elsewhere.
package entitlements

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Plans lists the plans, in increasing order.
var Plans = []string{"free", "professional", "enterprise"}

// Feature is a definition from the feature catalogue.
type Feature struct {
	Key         string         `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Category    string         `json:"category,omitempty"`
	Plans       []string       `json:"plans,omitempty"`     // plans that include it by default
	Requires    []string       `json:"requires,omitempty"`  // features that must be on
	Conflicts   []string       `json:"conflicts,omitempty"` // features that must be off
	Config      map[string]any `json:"config,omitempty"`    // default configuration
}

// Setting is an organization's override of one feature.
type Setting struct {
	Enabled bool           `json:"enabled"`
	Config  map[string]any `json:"config,omitempty"`
}

// Catalogue indexes feature definitions by key.
type Catalogue map[string]Feature

// NewCatalogue indexes defs.
func NewCatalogue(defs []Feature) Catalogue {
	c := make(Catalogue, len(defs))
	for _, f := range defs {
		c[f.Key] = f
	}
	return c
}

// Effective returns the organization's enabled features with their
// configuration: the plan's defaults, overlaid by its settings (a setting
// can turn a feature on or off, and its config keys override the default's).
func (c Catalogue) Effective(plan string, settings map[string]Setting) map[string]map[string]any {
	out := map[string]map[string]any{}
	for key, f := range c {
		if slices.Contains(f.Plans, plan) {
			out[key] = maps.Clone(f.Config)
		}
	}
	for key, s := range settings {
		f, known := c[key]
		switch {
		case !known:
			continue // a setting for a retired feature
		case !s.Enabled:
			delete(out, key)
		default:
			cfg := maps.Clone(f.Config)
			if cfg == nil {
				cfg = map[string]any{}
			}
			maps.Copy(cfg, s.Config)
			out[key] = cfg
		}
	}
	return out
}

// RuleError explains why a change was refused, naming both features.
type RuleError struct {
	Feature, Other string
	Reason         string // "requires", "conflicts", "required_by", "unknown"
}

func (e *RuleError) Error() string {
	switch e.Reason {
	case "requires":
		return fmt.Sprintf("%s requires %s, which is off", e.Feature, e.Other)
	case "conflicts":
		return fmt.Sprintf("%s conflicts with %s, which is on", e.Feature, e.Other)
	case "required_by":
		return fmt.Sprintf("%s is required by %s, which is on (disable it first, or cascade)", e.Feature, e.Other)
	}
	return fmt.Sprintf("unknown feature %s", e.Feature)
}

// Change asks to turn a feature on (with config) or off.
type Change struct {
	Key     string
	Enabled bool
	Config  map[string]any
}

// Apply checks a change against the current settings and returns the
// settings to write. Turning a feature on needs its dependencies on and no
// conflicting feature on (in either direction). Turning one off is refused
// while others that require it are on, unless cascade, which turns those
// off too (transitively).
func (c Catalogue) Apply(plan string, settings map[string]Setting, ch Change, cascade bool) (map[string]Setting, error) {
	f, ok := c[ch.Key]
	if !ok {
		return nil, &RuleError{Feature: ch.Key, Reason: "unknown"}
	}
	on := c.Effective(plan, settings)
	writes := map[string]Setting{}
	if ch.Enabled {
		for _, r := range f.Requires {
			if _, enabled := on[r]; !enabled {
				return nil, &RuleError{Feature: ch.Key, Other: r, Reason: "requires"}
			}
		}
		for key := range on {
			if key != ch.Key && (slices.Contains(f.Conflicts, key) || slices.Contains(c[key].Conflicts, ch.Key)) {
				return nil, &RuleError{Feature: ch.Key, Other: key, Reason: "conflicts"}
			}
		}
		writes[ch.Key] = Setting{Enabled: true, Config: ch.Config}
		return writes, nil
	}
	writes[ch.Key] = Setting{Enabled: false}
	// Dependents of everything turned off, transitively.
	for queue := []string{ch.Key}; len(queue) > 0; queue = queue[1:] {
		off := queue[0]
		for _, key := range sortedKeys(on) {
			if _, done := writes[key]; done || !slices.Contains(c[key].Requires, off) {
				continue
			}
			if !cascade {
				return nil, &RuleError{Feature: ch.Key, Other: key, Reason: "required_by"}
			}
			writes[key] = Setting{Enabled: false}
			queue = append(queue, key)
		}
	}
	return writes, nil
}

// Claim is the compact form for tokens: the sorted keys of the enabled
// features, and their small configuration values (a value is small when its
// JSON is at most SmallConfig bytes; larger ones, such as lists, are only
// in introspection). A list of keys keeps an ID token of an organization
// with 100 features under 4 KB.
func Claim(effective map[string]map[string]any) map[string]any {
	keys := sortedKeys(effective)
	cfg := map[string]any{}
	for _, k := range keys {
		small := map[string]any{}
		for name, v := range effective[k] {
			if b, err := json.Marshal(v); err == nil && len(b) <= SmallConfig {
				small[name] = v
			}
		}
		if len(small) > 0 {
			cfg[k] = small
		}
	}
	out := map[string]any{"features": keys}
	if len(cfg) > 0 {
		out["config"] = cfg
	}
	return out
}

// SmallConfig is the largest JSON encoding of a configuration value the
// compact claim carries.
const SmallConfig = 64

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Check validates a whole state (after a template is applied): every
// enabled feature has its dependencies enabled and no conflict enabled.
func (c Catalogue) Check(plan string, settings map[string]Setting) error {
	on := c.Effective(plan, settings)
	for _, key := range sortedKeys(on) {
		f := c[key]
		for _, r := range f.Requires {
			if _, ok := on[r]; !ok {
				return &RuleError{Feature: key, Other: r, Reason: "requires"}
			}
		}
		for other := range on {
			if other != key && (slices.Contains(f.Conflicts, other) || slices.Contains(c[other].Conflicts, key)) {
				return &RuleError{Feature: key, Other: other, Reason: "conflicts"}
			}
		}
	}
	return nil
}
