package memory

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/optibid/idp/storage"
)

// --- Clients ---

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

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

// --- AuthRequests ---

func (s *Store) CreateAuthRequest(_ context.Context, ar storage.AuthRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.authRequests[ar.ID]; ok {
		return storage.ErrConflict
	}
	if ar.CreatedAt.IsZero() {
		ar.CreatedAt = s.stamp()
	}
	s.authRequests[ar.ID] = ar
	return nil
}

func (s *Store) AuthRequestByID(_ context.Context, id string) (storage.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.authRequests[id]
	if !ok || !s.stamp().Before(ar.ExpiresAt) {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	return ar, nil
}

func (s *Store) CompleteAuthRequest(_ context.Context, id, userID string, authTime time.Time, amr []string, sessionHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.authRequests[id]
	if !ok || !s.stamp().Before(ar.ExpiresAt) {
		return storage.ErrNotFound
	}
	if ar.CodeHash != "" {
		return storage.ErrAlreadyUsed
	}
	ar.UserID, ar.AuthTime, ar.AMR, ar.SessionID, ar.Done = userID, authTime, slices.Clone(amr), sessionHash, true
	s.authRequests[id] = ar
	return nil
}

func (s *Store) SaveAuthCode(_ context.Context, id, codeHash string, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.authRequests[id]
	if !ok || !s.stamp().Before(ar.ExpiresAt) {
		return storage.ErrNotFound
	}
	if ar.CodeHash != "" || !ar.Done {
		return storage.ErrAlreadyUsed
	}
	ar.CodeHash, ar.CodeExpiresAt = codeHash, expiresAt
	s.authRequests[id] = ar
	s.codes[codeHash] = id
	return nil
}

func (s *Store) RedeemCode(_ context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[codeHash]
	if !ok {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	ar, ok := s.authRequests[id]
	if !ok {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	if (storage.CodeBinding{ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, CodeChallenge: ar.CodeChallenge}) != b {
		return storage.AuthRequest{}, storage.ErrMismatch
	}
	if !ar.RedeemedAt.IsZero() {
		if g, ok := s.grants[ar.GrantID]; ok && g.RevokedAt.IsZero() {
			g.RevokedAt = now
			s.grants[ar.GrantID] = g
		}
		s.appendAudit(replayEv)
		return storage.AuthRequest{}, storage.ErrAlreadyUsed
	}
	if !now.Before(ar.CodeExpiresAt) {
		return storage.AuthRequest{}, storage.ErrExpired
	}
	ar.RedeemedAt, ar.GrantID = now, grantID
	s.authRequests[id] = ar
	s.grants[grantID] = storage.Grant{
		ID: grantID, ClientID: ar.ClientID, UserID: ar.UserID, OrgID: ar.OrgID, Scopes: slices.Clone(ar.Scopes), Resources: slices.Clone(ar.Resources),
		AuthTime: ar.AuthTime, AMR: slices.Clone(ar.AMR), CreatedAt: now, ExpiresAt: grantExpiresAt,
	}
	s.appendAudit(ev)
	return ar, nil
}

// --- Grants ---

func (s *Store) IssueRefreshToken(_ context.Context, rt storage.RefreshToken, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grants[rt.GrantID]; !ok {
		return storage.ErrNotFound
	}
	s.refreshTokens[rt.Hash] = rt
	s.appendAudit(ev)
	return nil
}

func (s *Store) GrantByID(_ context.Context, id string) (storage.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[id]
	if !ok {
		return g, storage.ErrNotFound
	}
	return g, nil
}

func (s *Store) RefreshTokenByHash(_ context.Context, hash string) (storage.RefreshTokenState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st storage.RefreshTokenState
	var ok bool
	if st.Token, ok = s.refreshTokens[hash]; !ok {
		return st, storage.ErrNotFound
	}
	if st.Grant, ok = s.grants[st.Token.GrantID]; !ok {
		return st, storage.ErrNotFound
	}
	if st.User, ok = s.users[st.Grant.UserID]; !ok {
		return st, storage.ErrNotFound
	}
	st.Org = s.orgRoleLocked(st.Grant.UserID, st.Grant.OrgID)
	return st, nil
}

func (s *Store) RotateRefreshToken(_ context.Context, oldHash string, next storage.RefreshToken, now time.Time, ev, reuseEv storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.refreshTokens[oldHash]
	if !ok {
		return storage.ErrNotFound
	}
	g, ok := s.grants[old.GrantID]
	if !ok {
		return storage.ErrNotFound
	}
	if !old.UsedAt.IsZero() {
		if g.RevokedAt.IsZero() {
			g.RevokedAt = now
			s.grants[g.ID] = g
		}
		s.appendAudit(reuseEv)
		return storage.ErrAlreadyUsed
	}
	if !g.RevokedAt.IsZero() {
		return storage.ErrRevoked
	}
	if !now.Before(g.ExpiresAt) || !now.Before(old.ExpiresAt) {
		return storage.ErrExpired
	}
	old.UsedAt = now
	s.refreshTokens[oldHash] = old
	next.GrantID = old.GrantID
	s.refreshTokens[next.Hash] = next
	s.appendAudit(ev)
	return nil
}

func (s *Store) RevokeGrant(_ context.Context, id string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[id]
	if !ok {
		return storage.ErrNotFound
	}
	if g.RevokedAt.IsZero() {
		g.RevokedAt = now
		s.grants[id] = g
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) RevokeAccessToken(_ context.Context, jti string, expiresAt time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revokedJTIs[jti]; !ok {
		s.revokedJTIs[jti] = expiresAt
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) AccessTokenState(_ context.Context, jti, grantID string) (storage.AccessTokenState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st storage.AccessTokenState
	_, st.Revoked = s.revokedJTIs[jti]
	if grantID == "" {
		return st, nil
	}
	g, ok := s.grants[grantID]
	if !ok {
		return st, storage.ErrNotFound
	}
	st.Grant = g
	st.User = s.users[g.UserID]
	st.Org = s.orgRoleLocked(g.UserID, g.OrgID)
	return st, nil
}

// --- Sessions ---

func (s *Store) SessionByHash(_ context.Context, hash string) (storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok {
		return sess, storage.ErrNotFound
	}
	return sess, nil
}

func (s *Store) TouchSession(_ context.Context, hash string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok {
		return storage.ErrNotFound
	}
	sess.LastSeenAt = now
	s.sessions[hash] = sess
	return nil
}

func (s *Store) RevokeSession(_ context.Context, hash string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok {
		return storage.ErrNotFound
	}
	if sess.RevokedAt.IsZero() {
		sess.RevokedAt = now
		s.sessions[hash] = sess
	}
	s.appendAudit(ev)
	return nil
}

// --- Keys ---

func (s *Store) SigningKeys(_ context.Context) ([]storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	var out []storage.SigningKey
	for _, k := range s.keys {
		if k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b storage.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *Store) InitSigningKeys(_ context.Context, current, next storage.SigningKey, ev storage.AuditEvent) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.Algorithm == current.Algorithm {
			return false, nil
		}
	}
	s.keys[current.ID] = current
	s.keys[next.ID] = next
	s.appendAudit(ev)
	return true, nil
}

func (s *Store) RotateSigningKeys(_ context.Context, alg string, newNext storage.SigningKey, now, retiredUntil time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur, nxt *storage.SigningKey
	for id := range s.keys {
		k := s.keys[id]
		if k.Algorithm != alg {
			continue
		}
		switch k.State {
		case storage.KeyCurrent:
			cur = &k
		case storage.KeyNext:
			nxt = &k
		}
	}
	if nxt == nil {
		return storage.ErrNotFound
	}
	if cur != nil {
		cur.State, cur.RetiredAt, cur.ExpiresAt = storage.KeyRetired, now, retiredUntil
		s.keys[cur.ID] = *cur
	}
	nxt.State, nxt.ActivatedAt = storage.KeyCurrent, now
	s.keys[nxt.ID] = *nxt
	s.keys[newNext.ID] = newNext
	s.appendAudit(ev)
	return nil
}

// --- Audit ---

func (s *Store) AppendAudit(_ context.Context, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendAudit(ev)
	return nil
}

func (s *Store) ListAudit(_ context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.AuditEvent
	for i := len(s.audit) - 1; i >= 0; i-- { // newest first
		ev := s.audit[i]
		if (f.Type != "" && ev.Type != f.Type) || (f.ActorID != "" && ev.ActorID != f.ActorID) ||
			(f.SubjectID != "" && ev.SubjectID != f.SubjectID) || (!f.Since.IsZero() && ev.Time.Before(f.Since)) ||
			(f.OrgID != "" && ev.OrgID != f.OrgID) || (!f.Before.IsZero() && !ev.Time.Before(f.Before)) ||
			(f.UserID != "" && ev.ActorID != f.UserID && ev.SubjectID != f.UserID) {
			continue
		}
		ev.Details = cloneMap(ev.Details)
		out = append(out, ev)
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out, nil
}

// --- Maintenance ---

func (s *Store) Ping(context.Context) error { return nil }

func (s *Store) DeleteExpired(_ context.Context, now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	over := func(t time.Time) bool { return !now.Before(t) }
	n := deleteWhere(s.authRequests, func(ar storage.AuthRequest) bool {
		if over(ar.ExpiresAt) {
			delete(s.codes, ar.CodeHash)
			return true
		}
		return false
	})
	n += deleteWhere(s.sessions, func(x storage.Session) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.refreshTokens, func(x storage.RefreshToken) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.grants, func(x storage.Grant) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.revokedJTIs, over)
	n += deleteWhere(s.actionTokens, func(x storage.ActionToken) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.otp, func(x storage.OTPChallenge) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.ssoStates, func(x storage.FederationState) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.keys, func(k storage.SigningKey) bool { return !k.ExpiresAt.IsZero() && over(k.ExpiresAt) })
	n += deleteWhere(s.rates, func(x rateEntry) bool { return over(x.expires) })
	return n, nil
}

// deleteWhere removes the entries of m that expired says are over.
func deleteWhere[K comparable, V any](m map[K]V, expired func(V) bool) int64 {
	var n int64
	for k, v := range m {
		if expired(v) {
			delete(m, k)
			n++
		}
	}
	return n
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
