package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func cloneSetting(s storage.FeatureSetting) storage.FeatureSetting {
	s.Config = slices.Clone(s.Config)
	return s
}

func (s *Store) UpsertFeature(_ context.Context, f storage.FeatureDefinition, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	if old, ok := s.features[f.Key]; ok {
		f.CreatedAt = old.CreatedAt
	} else {
		f.CreatedAt = now
	}
	f.UpdatedAt = now
	f.Plans, f.Requires, f.Conflicts, f.Config = slices.Clone(f.Plans), slices.Clone(f.Requires), slices.Clone(f.Conflicts), slices.Clone(f.Config)
	s.features[f.Key] = f
	s.appendAudit(ev)
	return nil
}

func (s *Store) ListFeatures(_ context.Context) ([]storage.FeatureDefinition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storage.FeatureDefinition, 0, len(s.features))
	for _, f := range s.features {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b storage.FeatureDefinition) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (s *Store) orgFeaturesLocked(orgID string) map[string]storage.FeatureSetting {
	out := make(map[string]storage.FeatureSetting, len(s.orgFeatures[orgID]))
	for k, v := range s.orgFeatures[orgID] {
		out[k] = cloneSetting(v)
	}
	return out
}

func (s *Store) OrgFeatureSettings(_ context.Context, orgID string) (map[string]storage.FeatureSetting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orgFeaturesLocked(orgID), nil
}

func (s *Store) ApplyFeatureSettings(_ context.Context, orgID string, writes map[string]storage.FeatureSetting, actorID, templateID string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[orgID]; !ok {
		return storage.ErrNotFound
	}
	for k := range writes {
		if _, ok := s.features[k]; !ok {
			return storage.ErrNotFound
		}
	}
	if s.orgFeatures[orgID] == nil {
		s.orgFeatures[orgID] = map[string]storage.FeatureSetting{}
	}
	for _, k := range slices.Sorted(maps.Keys(writes)) {
		after := cloneSetting(writes[k])
		after.ChangedBy, after.UpdatedAt = actorID, now
		var before *storage.FeatureSetting
		if old, ok := s.orgFeatures[orgID][k]; ok {
			b := cloneSetting(old)
			before = &b
		}
		s.orgFeatures[orgID][k] = after
		a := cloneSetting(after)
		s.featureLog = append(s.featureLog, storage.FeatureChange{ID: random.ID(), OrgID: orgID, FeatureKey: k, ActorID: actorID,
			TemplateID: templateID, Before: before, After: &a, ChangedAt: now})
	}
	if templateID != "" {
		s.applications = append(s.applications, storage.TemplateApplication{ID: random.ID(), OrgID: orgID, TemplateID: templateID,
			AppliedBy: actorID, AppliedAt: now})
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) FeatureChanges(_ context.Context, orgID string, limit int) ([]storage.FeatureChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.FeatureChange
	for i := len(s.featureLog) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		if s.featureLog[i].OrgID == orgID {
			out = append(out, s.featureLog[i])
		}
	}
	return out, nil
}

func (s *Store) UpsertTemplate(_ context.Context, t storage.FeatureTemplate, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	if old, ok := s.templates[t.ID]; ok {
		t.CreatedAt = old.CreatedAt
	} else {
		t.CreatedAt = now
	}
	t.UpdatedAt, t.Features = now, slices.Clone(t.Features)
	s.templates[t.ID] = t
	s.appendAudit(ev)
	return nil
}

func (s *Store) TemplateByID(_ context.Context, id string) (storage.FeatureTemplate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.templates[id]
	if !ok {
		return t, storage.ErrNotFound
	}
	return t, nil
}

func (s *Store) ListTemplates(_ context.Context) ([]storage.FeatureTemplate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.templates))
	slices.SortFunc(out, func(a, b storage.FeatureTemplate) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *Store) TemplateApplications(_ context.Context, orgID string) ([]storage.TemplateApplication, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.TemplateApplication
	for i := len(s.applications) - 1; i >= 0; i-- {
		if s.applications[i].OrgID == orgID {
			out = append(out, s.applications[i])
		}
	}
	return out, nil
}

func (s *Store) SetPlan(_ context.Context, orgID, plan string, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error {
		if !slices.Contains([]string{"free", "professional", "enterprise"}, plan) {
			return storage.ErrConflict
		}
		o.Plan = plan
		return nil
	})
}
