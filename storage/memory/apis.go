package memory

import (
	"context"
	"slices"
	"time"

	"github.com/optibid/idp/storage"
)

// --- APIs ---

func cloneAPI(a storage.API) storage.API {
	a.Scopes = slices.Clone(a.Scopes)
	a.Claims = slices.Clone(a.Claims)
	return a
}

func (s *Store) UpsertAPI(_ context.Context, a storage.API, ev storage.AuditEvent) (storage.API, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	if old, ok := s.apis[a.Identifier]; ok {
		if old.OrgID != a.OrgID {
			return storage.API{}, storage.ErrConflict
		}
		a.CreatedAt = old.CreatedAt
	} else {
		if a.OrgID != "" {
			if _, ok := s.orgs[a.OrgID]; !ok {
				return storage.API{}, storage.ErrNotFound
			}
		}
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	s.apis[a.Identifier] = cloneAPI(a)
	s.appendAudit(ev)
	return cloneAPI(a), nil
}

func (s *Store) ListAPIs(context.Context) ([]storage.API, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storage.API, 0, len(s.apis))
	for _, a := range s.apis {
		out = append(out, cloneAPI(a))
	}
	slices.SortFunc(out, func(a, b storage.API) int { return compare(a.Identifier, b.Identifier) })
	return out, nil
}

func (s *Store) DeleteAPI(_ context.Context, identifier, orgID string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apis[identifier]
	if !ok || a.OrgID != orgID {
		return storage.ErrNotFound
	}
	delete(s.apis, identifier)
	s.appendAudit(ev)
	return nil
}

// --- Consents ---

func (s *Store) ConsentOf(_ context.Context, userID, clientID string) (storage.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[[2]string{userID, clientID}]
	if !ok {
		return storage.Consent{}, storage.ErrNotFound
	}
	c.Scopes, c.Resources = slices.Clone(c.Scopes), slices.Clone(c.Resources)
	return c, nil
}

func (s *Store) ConsentsOf(_ context.Context, userID string) ([]storage.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Consent
	for k, c := range s.consents {
		if k[0] == userID {
			c.Scopes, c.Resources = slices.Clone(c.Scopes), slices.Clone(c.Resources)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b storage.Consent) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return out, nil
}

func (s *Store) RevokeConsent(_ context.Context, userID, clientID string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{userID, clientID}
	_, had := s.consents[key]
	delete(s.consents, key)
	for id, g := range s.grants {
		if g.UserID == userID && g.ClientID == clientID && g.RevokedAt.IsZero() {
			g.RevokedAt = now
			s.grants[id] = g
			had = true
		}
	}
	if !had {
		return storage.ErrNotFound
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) GrantConsent(_ context.Context, c storage.Consent, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[c.UserID]; !ok {
		return storage.ErrNotFound
	}
	if _, ok := s.clients[c.ClientID]; !ok {
		return storage.ErrNotFound
	}
	key := [2]string{c.UserID, c.ClientID}
	old := s.consents[key]
	c.Scopes = union(old.Scopes, c.Scopes)
	c.Resources = union(old.Resources, c.Resources)
	c.UpdatedAt = s.stamp()
	s.consents[key] = c
	s.appendAudit(ev)
	return nil
}

// union returns the sorted set of a and b.
func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// --- Rate limits ---

type rateKey struct {
	key   string
	start time.Time
}

type rateEntry struct {
	count   int
	expires time.Time
}

func (s *Store) Hit(_ context.Context, key string, windowStart, expiresAt time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := rateKey{key, windowStart.UTC()}
	e := s.rates[k]
	e.count++
	e.expires = expiresAt
	s.rates[k] = e
	return e.count, nil
}
