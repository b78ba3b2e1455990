package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/storage"
)

func (s *Store) UpsertWidget(_ context.Context, w storage.Widget, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.RequiredFeatures, w.Config = slices.Clone(w.RequiredFeatures), slices.Clone(w.Config)
	s.widgets[w.Key] = w
	s.appendAudit(ev)
	return nil
}

func (s *Store) ListWidgets(context.Context) ([]storage.Widget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Widget
	for _, k := range slices.Sorted(maps.Keys(s.widgets)) {
		w := s.widgets[k]
		w.RequiredFeatures, w.Config = slices.Clone(w.RequiredFeatures), slices.Clone(w.Config)
		out = append(out, w)
	}
	return out, nil
}

func (s *Store) Dashboard(_ context.Context, userID, orgID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	layout, ok := s.dashboards[[2]string{userID, orgID}]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return slices.Clone(layout), nil
}

func (s *Store) SetDashboard(_ context.Context, userID, orgID string, layout []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return storage.ErrNotFound
	}
	if _, ok := s.orgs[orgID]; !ok {
		return storage.ErrNotFound
	}
	s.dashboards[[2]string{userID, orgID}] = slices.Clone(layout)
	return nil
}

func (s *Store) RecordUsage(_ context.Context, u storage.UsageCount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[u.OrgID]; !ok {
		return storage.ErrNotFound
	}
	n := u.Count
	u.Count, u.Day = 0, day(u.Day)
	s.usage[u] += n
	return nil
}

func (s *Store) UsageOf(_ context.Context, orgID string, since, until time.Time) ([]storage.UsageCount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.UsageCount
	for k, n := range s.usage {
		if k.OrgID == orgID && !k.Day.Before(day(since)) && k.Day.Before(day(until)) {
			k.Count = n
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b storage.UsageCount) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		if c := strings.Compare(a.FeatureKey, b.FeatureKey); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	return out, nil
}

// day truncates to the UTC date, as PostgreSQL's date column stores it.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
