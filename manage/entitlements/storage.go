package entitlements

import (
	"encoding/json"

	"github.com/optibid/idp/storage"
)

// FromStorage converts stored definitions to the rules' form.
func FromStorage(defs []storage.FeatureDefinition) Catalogue {
	out := make([]Feature, 0, len(defs))
	for _, d := range defs {
		f := Feature{Key: d.Key, Name: d.Name, Description: d.Description, Category: d.Category,
			Plans: d.Plans, Requires: d.Requires, Conflicts: d.Conflicts}
		_ = json.Unmarshal(d.Config, &f.Config)
		out = append(out, f)
	}
	return NewCatalogue(out)
}

// SettingsFromStorage converts stored settings to the rules' form.
func SettingsFromStorage(in map[string]storage.FeatureSetting) map[string]Setting {
	out := make(map[string]Setting, len(in))
	for k, s := range in {
		e := Setting{Enabled: s.Enabled}
		_ = json.Unmarshal(s.Config, &e.Config)
		out[k] = e
	}
	return out
}
