package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/optibid/idp/storage"
)

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

func (s *Store) SetAuthRequestOrg(_ context.Context, id, orgID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.authRequests[id]
	if !ok || !s.stamp().Before(ar.ExpiresAt) {
		return storage.ErrNotFound
	}
	if ar.CodeHash != "" {
		return storage.ErrAlreadyUsed
	}
	ar.OrgID = orgID
	s.authRequests[id] = ar
	return nil
}

func (s *Store) SetPendingLogin(_ context.Context, id, userID string, amr []string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.authRequests[id]
	if !ok || !s.stamp().Before(ar.ExpiresAt) {
		return storage.ErrNotFound
	}
	if ar.CodeHash != "" {
		return storage.ErrAlreadyUsed
	}
	ar.PendingUserID, ar.PendingAMR, ar.PendingAt = userID, slices.Clone(amr), at
	s.authRequests[id] = ar
	return nil
}

func (s *Store) RedeemCode(_ context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
	return s.redeemCode(codeHash, b, grantID, grantExpiresAt, now, false, 0, ev, replayEv)
}

// RedeemClaimedCode implements storage.Store (see there).
func (s *Store) RedeemClaimedCode(_ context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time,
	grace time.Duration, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
	return s.redeemCode(codeHash, b, grantID, grantExpiresAt, now, true, grace, ev, replayEv)
}

// redemption is how a code was redeemed: under its claim, and whether
// the answer was written (storage.LostAnswer).
type redemption struct{ claimed, delivered bool }

func (s *Store) redeemCode(codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time,
	claimed bool, grace time.Duration, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error) {
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
		first := s.redemptions[id]
		if claimed && storage.LostAnswer(first.claimed, first.delivered, ar.RedeemedAt, now, grace) {
			replaced := ar.GrantID
			ar.GrantID = grantID
			s.authRequests[id] = ar
			s.createGrantLocked(ar, grantID, grantExpiresAt, now)
			s.appendAudit(storage.RetriedRedemption(ev, replaced))
			return ar, nil
		}
		s.redemptions[id] = redemption{} // a replay ends any retry: nothing the code gave may come back
		s.appendAudit(replayEv)
		return storage.AuthRequest{}, storage.ErrAlreadyUsed
	}
	if !now.Before(ar.CodeExpiresAt) {
		return storage.AuthRequest{}, storage.ErrExpired
	}
	ar.RedeemedAt, ar.GrantID = now, grantID
	s.authRequests[id] = ar
	s.redemptions[id] = redemption{claimed: claimed}
	s.createGrantLocked(ar, grantID, grantExpiresAt, now)
	s.appendAudit(ev)
	return ar, nil
}

// createGrantLocked creates the grant (token family) of a redeemed
// request; s.mu held.
func (s *Store) createGrantLocked(ar storage.AuthRequest, grantID string, expiresAt, now time.Time) {
	s.grants[grantID] = storage.Grant{
		ID: grantID, ClientID: ar.ClientID, UserID: ar.UserID, OrgID: ar.OrgID, Scopes: slices.Clone(ar.Scopes), Resources: slices.Clone(ar.Resources),
		AuthTime: ar.AuthTime, AMR: slices.Clone(ar.AMR), CreatedAt: now, ExpiresAt: expiresAt,
	}
}

// ClaimCode implements storage.Store (see there). In one process a
// claim ends with release.
func (s *Store) ClaimCode(_ context.Context, codeHash string) (release func(), ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codeClaims[codeHash] {
		return func() {}, false, nil
	}
	s.codeClaims[codeHash] = true
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.codeClaims, codeHash)
	}), true, nil
}

// CodeDelivered implements storage.Store (see there).
func (s *Store) CodeDelivered(_ context.Context, codeHash, grantID string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[codeHash]
	if !ok || s.authRequests[id].GrantID != grantID {
		return nil
	}
	r := s.redemptions[id]
	r.delivered = true
	s.redemptions[id] = r
	return nil
}

// --- Grants ---

// orgRoleLocked returns an organization with the user's role in it; s.mu
// held. Zero when either is gone.
func (s *Store) orgRoleLocked(userID, orgID string) storage.OrgRole {
	m, ok := s.memberships[[2]string{userID, orgID}]
	if orgID == "" || !ok {
		return storage.OrgRole{}
	}
	return storage.OrgRole{Org: s.orgs[orgID], Role: m.Role, Features: s.orgFeaturesLocked(orgID)}
}

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

func (s *Store) RotateRefreshToken(_ context.Context, oldHash string, next storage.RefreshToken, now time.Time, grace time.Duration, ev, reuseEv storage.AuditEvent) error {
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
		succ, hasSucc := s.refreshTokens[old.Successor]
		if grace > 0 && !now.Before(old.UsedAt) && now.Sub(old.UsedAt) < grace && hasSucc && succ.UsedAt.IsZero() && g.RevokedAt.IsZero() &&
			now.Before(g.ExpiresAt) && now.Before(old.ExpiresAt) {
			succ.UsedAt = now // lost with its answer; turning up later is reuse
			s.refreshTokens[succ.Hash] = succ
			old.Successor = next.Hash
			s.refreshTokens[oldHash] = old
			next.GrantID = old.GrantID
			s.refreshTokens[next.Hash] = next
			s.appendAudit(storage.RetryEvent(ev))
			return nil
		}
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
	old.UsedAt, old.Successor = now, next.Hash
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

func (s *Store) SessionsByUser(_ context.Context, userID string, now time.Time) ([]storage.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Session
	for _, sess := range s.sessions {
		if sess.UserID == userID && sess.RevokedAt.IsZero() && now.Before(sess.ExpiresAt) {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b storage.Session) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// --- Action tokens ---

func (s *Store) CreateActionToken(_ context.Context, t storage.ActionToken, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[t.UserID]; !ok {
		return storage.ErrNotFound
	}
	if t.Purpose == storage.PurposeChangeEmail { // one address change pending at a time
		s.endActionTokensLocked(t.UserID, t.CreatedAt, storage.PurposeChangeEmail)
	}
	if _, ok := s.actionTokens[t.Hash]; ok {
		return storage.ErrConflict
	}
	s.actionTokens[t.Hash] = t
	s.appendAudit(ev)
	return nil
}

func (s *Store) ConsumeActionToken(_ context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.usableActionToken(hash, purpose, now)
	if err != nil {
		return t, err
	}
	t.UsedAt = now
	s.actionTokens[hash] = t
	return t, nil
}

func (s *Store) ActionTokenState(_ context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usableActionToken(hash, purpose, now)
}

// usableActionToken is the token with hash made for purpose, or why it
// cannot be used at now. The caller holds s.mu.
func (s *Store) usableActionToken(hash, purpose string, now time.Time) (storage.ActionToken, error) {
	t, ok := s.actionTokens[hash]
	switch {
	case !ok || t.Purpose != purpose:
		return storage.ActionToken{}, storage.ErrNotFound
	case !t.UsedAt.IsZero():
		return storage.ActionToken{}, storage.ErrAlreadyUsed
	case !now.Before(t.ExpiresAt):
		return storage.ActionToken{}, storage.ErrExpired
	}
	return t, nil
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

func (s *Store) RotateSigningKeys(_ context.Context, alg string, newNext storage.SigningKey, now, retiredUntil, activatedBefore time.Time, ev storage.AuditEvent) error {
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
	if cur != nil && !activatedBefore.IsZero() {
		since := cur.ActivatedAt
		if since.IsZero() {
			since = cur.CreatedAt
		}
		if !since.Before(activatedBefore) {
			return storage.ErrConflict // rotated already
		}
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
