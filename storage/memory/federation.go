package memory

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

type identityKey struct{ conn, iss, sub string }

func (s *Store) UpsertConnection(_ context.Context, c storage.Connection, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.OrgID != "" {
		if _, ok := s.orgs[c.OrgID]; !ok {
			return storage.ErrNotFound
		}
	}
	now := s.stamp()
	if old, ok := s.connections[c.ID]; ok {
		c.CreatedAt = old.CreatedAt
	} else {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	if c.MaxRole == "" {
		c.MaxRole = "member" // the schema's default
	}
	c.Config, c.SecretSealed, c.RoleMapping = slices.Clone(c.Config), slices.Clone(c.SecretSealed), maps.Clone(c.RoleMapping)
	s.connections[c.ID] = c
	s.appendAudit(ev)
	return nil
}

func (s *Store) ConnectionByID(_ context.Context, id string) (storage.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.connections[id]
	if !ok {
		return c, storage.ErrNotFound
	}
	c.Config, c.SecretSealed, c.RoleMapping = slices.Clone(c.Config), slices.Clone(c.SecretSealed), maps.Clone(c.RoleMapping)
	return c, nil
}

func (s *Store) ListConnections(_ context.Context) ([]storage.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storage.Connection, 0, len(s.connections))
	for _, c := range s.connections {
		c.Config, c.SecretSealed, c.RoleMapping = slices.Clone(c.Config), slices.Clone(c.SecretSealed), maps.Clone(c.RoleMapping)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b storage.Connection) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *Store) CreateFederationState(_ context.Context, st storage.FederationState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ssoStates[st.StateHash]; ok {
		return storage.ErrConflict
	}
	s.ssoStates[st.StateHash] = st
	return nil
}

func (s *Store) ConsumeFederationState(_ context.Context, hash string, now time.Time) (storage.FederationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.ssoStates[hash]
	switch {
	case !ok:
		return st, storage.ErrNotFound
	case !st.UsedAt.IsZero():
		return storage.FederationState{}, storage.ErrAlreadyUsed
	case !now.Before(st.ExpiresAt):
		return storage.FederationState{}, storage.ErrExpired
	}
	st.UsedAt = now
	s.ssoStates[hash] = st
	return st, nil
}

func (s *Store) IdentityByUpstream(_ context.Context, conn, iss, sub string) (storage.FederatedIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, ok := s.identities[identityKey{conn, iss, sub}]
	if !ok {
		return fi, storage.ErrNotFound
	}
	return fi, nil
}

// linkLocked stores a link; s.mu held.
func (s *Store) linkLocked(fi storage.FederatedIdentity) error {
	k := identityKey{fi.ConnectionID, fi.Issuer, fi.Subject}
	if _, ok := s.identities[k]; ok {
		return storage.ErrConflict
	}
	if _, ok := s.connections[fi.ConnectionID]; !ok {
		return storage.ErrNotFound
	}
	if _, ok := s.users[fi.UserID]; !ok {
		return storage.ErrNotFound
	}
	s.identities[k] = fi
	return nil
}

func (s *Store) LinkIdentity(_ context.Context, fi storage.FederatedIdentity, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.linkLocked(fi); err != nil {
		return err
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) ProvisionFederatedUser(_ context.Context, u storage.User, m *storage.Membership, fi storage.FederatedIdentity, ev storage.AuditEvent) (storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Email = strings.ToLower(u.Email)
	for _, existing := range s.users {
		if existing.Email == u.Email {
			return storage.User{}, storage.ErrConflict
		}
	}
	if _, ok := s.identities[identityKey{fi.ConnectionID, fi.Issuer, fi.Subject}]; ok {
		return storage.User{}, storage.ErrConflict
	}
	if m != nil {
		if _, ok := s.orgs[m.OrgID]; !ok {
			return storage.User{}, storage.ErrNotFound
		}
	}
	if u.ID == "" {
		u.ID = random.ID()
	}
	now := s.stamp()
	u.CreatedAt, u.UpdatedAt = now, now
	s.users[u.ID] = u
	fi.UserID = u.ID
	if err := s.linkLocked(fi); err != nil {
		delete(s.users, u.ID)
		return storage.User{}, err
	}
	if m != nil {
		m.UserID, m.CreatedAt, m.UpdatedAt = u.ID, now, now
		s.memberships[[2]string{u.ID, m.OrgID}] = *m
	}
	s.appendAudit(ev)
	return u, nil
}

func (s *Store) UnlinkEmailLinks(_ context.Context, userID string, ev storage.AuditEvent) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, fi := range s.identities {
		if fi.UserID == userID && fi.LinkedByEmail {
			delete(s.identities, k)
			n++
		}
	}
	if n > 0 {
		ev.Details = map[string]string{"links": strconv.Itoa(n)}
		s.appendAudit(ev)
	}
	return n, nil
}

func (s *Store) ChangeEmail(_ context.Context, userID, email string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	email = strings.ToLower(email)
	for id, other := range s.users {
		if id != userID && other.Email == email {
			return storage.ErrConflict
		}
	}
	u.Email, u.EmailVerified, u.UpdatedAt = email, true, s.stamp()
	s.users[userID] = u
	s.endActionTokensLocked(userID, s.stamp(), "")
	for k, fi := range s.identities {
		if fi.UserID == userID && fi.LinkedByEmail {
			delete(s.identities, k)
		}
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) IdentitiesOf(_ context.Context, userID string) ([]storage.FederatedIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.FederatedIdentity
	for _, fi := range s.identities {
		if fi.UserID == userID {
			out = append(out, fi)
		}
	}
	slices.SortFunc(out, func(a, b storage.FederatedIdentity) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ConnectionID+a.Subject, b.ConnectionID+b.Subject)
	})
	return out, nil
}

func (s *Store) UnlinkIdentity(_ context.Context, userID, conn, iss, sub string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := identityKey{conn, iss, sub}
	if fi, ok := s.identities[k]; !ok || fi.UserID != userID {
		return storage.ErrNotFound
	}
	delete(s.identities, k)
	s.appendAudit(ev)
	return nil
}

func (s *Store) TouchIdentity(_ context.Context, fi storage.FederatedIdentity, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := identityKey{fi.ConnectionID, fi.Issuer, fi.Subject}
	cur, ok := s.identities[k]
	if !ok {
		return storage.ErrNotFound
	}
	cur.LastLoginAt, cur.Email = now, fi.Email
	s.identities[k] = cur
	return nil
}

func (s *Store) DeleteConnection(_ context.Context, id string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.connections[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.connections, id)
	deleteWhere(s.identities, func(fi storage.FederatedIdentity) bool { return fi.ConnectionID == id })
	s.appendAudit(ev)
	return nil
}
