package memory

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/optibid/idp/storage"
)

func (s *Store) UpsertClient(_ context.Context, c storage.Client, ev storage.AuditEvent) (storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	if old, ok := s.clients[c.ID]; ok {
		c.CreatedAt, c.OrgID = old.CreatedAt, old.OrgID // the owner is set at creation only
	} else {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	s.clients[c.ID] = cloneClient(c)
	s.appendAudit(ev)
	return c, nil
}

func (s *Store) ClientByID(_ context.Context, id string) (storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return c, storage.ErrNotFound
	}
	return cloneClient(c), nil
}

func (s *Store) ListClients(_ context.Context) ([]storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storage.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	slices.SortFunc(out, func(a, b storage.Client) int { return compare(a.ID, b.ID) })
	return out, nil
}

func cloneClient(c storage.Client) storage.Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.Scopes = slices.Clone(c.Scopes)
	c.APIs = slices.Clone(c.APIs)
	c.ActsFor = slices.Clone(c.ActsFor)
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	return c
}

func (s *Store) ClientsOf(_ context.Context, orgID string) ([]storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Client
	for _, c := range s.clients {
		if c.OrgID == orgID && orgID != "" {
			out = append(out, cloneClient(c))
		}
	}
	slices.SortFunc(out, func(a, b storage.Client) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *Store) DeleteClient(_ context.Context, id string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.clients, id)
	maps.DeleteFunc(s.consents, func(k [2]string, _ storage.Consent) bool { return k[1] == id })
	for gid, g := range s.grants {
		if g.ClientID == id && g.RevokedAt.IsZero() {
			g.RevokedAt = now
			s.grants[gid] = g
		}
	}
	s.appendAudit(ev)
	return nil
}
