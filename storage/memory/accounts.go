package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/storage"
)

// --- organization MFA policy and domains ---

func (s *Store) SetMFAPolicy(_ context.Context, orgID, policy string, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.MFAPolicy = policy; return nil })
}

func (s *Store) SetEmailPolicy(_ context.Context, orgID string, requireVerified bool, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.RequireVerifiedEmail = requireVerified; return nil })
}

func (s *Store) SetJoinByDomain(_ context.Context, orgID string, on bool, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.JoinByDomain = on; return nil })
}

func (s *Store) AddDomain(_ context.Context, d storage.OrganizationDomain, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[d.OrgID]; !ok {
		return storage.ErrNotFound
	}
	d.Domain = strings.ToLower(d.Domain)
	if old, ok := s.domains[d.Domain]; ok {
		switch {
		case old.OrgID != d.OrgID && !old.VerifiedAt.IsZero():
			return storage.ErrConflict
		case old.OrgID == d.OrgID && d.VerifiedAt.IsZero():
			d.VerifiedAt = old.VerifiedAt // a verification stays
		}
	}
	s.domains[d.Domain] = d
	s.appendAudit(ev)
	return nil
}

func (s *Store) DomainsOf(_ context.Context, orgID string) ([]storage.OrganizationDomain, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.OrganizationDomain
	for _, d := range s.domains {
		if d.OrgID == orgID {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b storage.OrganizationDomain) int { return strings.Compare(a.Domain, b.Domain) })
	return out, nil
}

func (s *Store) OrganizationByVerifiedDomain(_ context.Context, domain string) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.domains[strings.ToLower(domain)]
	if !ok || d.VerifiedAt.IsZero() {
		return storage.Organization{}, storage.ErrNotFound
	}
	return s.orgs[d.OrgID], nil
}

// --- users, auth requests, sessions ---

func (s *Store) SetPhone(_ context.Context, id, phone string, verified bool, ev storage.AuditEvent) error {
	return s.updateUser(id, ev, func(u *storage.User) { u.Phone, u.PhoneVerified = phone, verified })
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

// orgRoleLocked returns an organization with the user's role in it; s.mu
// held. Zero when either is gone.
func (s *Store) orgRoleLocked(userID, orgID string) storage.OrgRole {
	m, ok := s.memberships[[2]string{userID, orgID}]
	if orgID == "" || !ok {
		return storage.OrgRole{}
	}
	return storage.OrgRole{Org: s.orgs[orgID], Role: m.Role, Features: s.orgFeaturesLocked(orgID)}
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

// --- action tokens ---

func (s *Store) CreateActionToken(_ context.Context, t storage.ActionToken, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[t.UserID]; !ok {
		return storage.ErrNotFound
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
	t, ok := s.actionTokens[hash]
	switch {
	case !ok || t.Purpose != purpose:
		return storage.ActionToken{}, storage.ErrNotFound
	case !t.UsedAt.IsZero():
		return storage.ActionToken{}, storage.ErrAlreadyUsed
	case !now.Before(t.ExpiresAt):
		return storage.ActionToken{}, storage.ErrExpired
	}
	t.UsedAt = now
	s.actionTokens[hash] = t
	return t, nil
}

// --- MFA ---

func (s *Store) SaveTOTP(_ context.Context, t storage.TOTP, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[t.UserID]; !ok {
		return storage.ErrNotFound
	}
	t.SecretSealed = slices.Clone(t.SecretSealed)
	s.totp[t.UserID] = t
	s.appendAudit(ev)
	return nil
}

func (s *Store) TOTPByUser(_ context.Context, userID string) (storage.TOTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return t, storage.ErrNotFound
	}
	t.SecretSealed = slices.Clone(t.SecretSealed)
	return t, nil
}

func (s *Store) ConfirmTOTP(_ context.Context, userID string, step int64, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return storage.ErrNotFound
	}
	t.ConfirmedAt, t.LastStep = now, max(t.LastStep, step)
	s.totp[userID] = t
	s.appendAudit(ev)
	return nil
}

func (s *Store) UseTOTPStep(_ context.Context, userID string, step int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return storage.ErrNotFound
	}
	if step <= t.LastStep {
		return storage.ErrAlreadyUsed
	}
	t.LastStep = step
	s.totp[userID] = t
	return nil
}

func (s *Store) DeleteTOTP(_ context.Context, userID string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.totp[userID]; !ok {
		return storage.ErrNotFound
	}
	delete(s.totp, userID)
	s.appendAudit(ev)
	return nil
}

func (s *Store) ReplaceBackupCodes(_ context.Context, userID string, hashes []string, _ time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return storage.ErrNotFound
	}
	set := make(map[string]time.Time, len(hashes))
	for _, h := range hashes {
		set[h] = time.Time{}
	}
	s.backupCodes[userID] = set
	s.appendAudit(ev)
	return nil
}

func (s *Store) UseBackupCode(_ context.Context, userID, hash string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	used, ok := s.backupCodes[userID][hash]
	if !ok || !used.IsZero() {
		return storage.ErrNotFound
	}
	s.backupCodes[userID][hash] = now
	s.appendAudit(ev)
	return nil
}

func (s *Store) BackupCodesRemaining(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, used := range s.backupCodes[userID] {
		if used.IsZero() {
			n++
		}
	}
	return n, nil
}

func (s *Store) CreateOTPChallenge(_ context.Context, c storage.OTPChallenge, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[c.UserID]; !ok {
		return storage.ErrNotFound
	}
	s.otp[c.ID] = c
	s.appendAudit(ev)
	return nil
}

func (s *Store) VerifyOTPChallenge(_ context.Context, id, authRequestID, codeHash string, maxAttempts int, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.otp[id]
	switch {
	case !ok || c.AuthRequestID != authRequestID:
		return storage.ErrNotFound
	case !c.UsedAt.IsZero() || c.Attempts >= maxAttempts:
		return storage.ErrAlreadyUsed
	case !now.Before(c.ExpiresAt):
		return storage.ErrExpired
	case c.CodeHash != codeHash:
		c.Attempts++
		s.otp[id] = c
		return storage.ErrMismatch
	}
	c.UsedAt = now
	s.otp[id] = c
	return nil
}

func (s *Store) CountOTPChallenges(_ context.Context, userID string, since time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.otp {
		if c.UserID == userID && !c.CreatedAt.Before(since) {
			n++
		}
	}
	return n, nil
}

func (s *Store) SetPlatformAdmin(_ context.Context, userID string, on bool, ev storage.AuditEvent) error {
	return s.updateUser(userID, ev, func(u *storage.User) { u.PlatformAdmin = on })
}

// DeleteOrganization mirrors PostgreSQL's cascades.
func (s *Store) DeleteOrganization(_ context.Context, orgID string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[orgID]; !ok {
		return storage.ErrNotFound
	}
	delete(s.orgs, orgID)
	delete(s.orgFeatures, orgID)
	deleteWhere(s.memberships, func(m storage.Membership) bool { return m.OrgID == orgID })
	deleteWhere(s.domains, func(d storage.OrganizationDomain) bool { return d.OrgID == orgID })
	deleteWhere(s.invitations, func(i storage.Invitation) bool { return i.OrgID == orgID })
	gone := map[string]bool{}
	deleteWhere(s.connections, func(c storage.Connection) bool { gone[c.ID] = c.OrgID == orgID; return gone[c.ID] })
	deleteWhere(s.identities, func(fi storage.FederatedIdentity) bool { return gone[fi.ConnectionID] })
	maps.DeleteFunc(s.dashboards, func(k [2]string, _ []byte) bool { return k[1] == orgID })
	deleteWhere(s.apis, func(a storage.API) bool { return a.OrgID == orgID })
	deleteWhere(s.clients, func(c storage.Client) bool { gone[c.ID] = c.OrgID == orgID; return gone[c.ID] })
	for id, g := range s.grants { // what its clients issued dies with them
		if gone[g.ClientID] && g.RevokedAt.IsZero() {
			g.RevokedAt = s.stamp()
			s.grants[id] = g
		}
	}
	maps.DeleteFunc(s.consents, func(k [2]string, _ storage.Consent) bool { return gone[k[1]] })
	maps.DeleteFunc(s.usage, func(k storage.UsageCount, _ int64) bool { return k.OrgID == orgID })
	s.featureLog = slices.DeleteFunc(s.featureLog, func(c storage.FeatureChange) bool { return c.OrgID == orgID })
	s.applications = slices.DeleteFunc(s.applications, func(a storage.TemplateApplication) bool { return a.OrgID == orgID })
	s.appendAudit(ev)
	return nil
}

func (s *Store) CreateOrganization(_ context.Context, o storage.Organization, ownerID string, ev storage.AuditEvent) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, existing := range s.orgs {
		if existing.Slug == o.Slug {
			return storage.Organization{}, storage.ErrConflict
		}
	}
	if _, ok := s.users[ownerID]; !ok {
		return storage.Organization{}, storage.ErrNotFound
	}
	now := s.stamp()
	o = s.insertOrg(o, now)
	s.memberships[[2]string{ownerID, o.ID}] = storage.Membership{UserID: ownerID, OrgID: o.ID, Role: "owner", CreatedAt: now, UpdatedAt: now}
	ev.OrgID = o.ID
	s.appendAudit(ev)
	return o, nil
}

func (s *Store) SetOrgSettings(_ context.Context, orgID string, settings []byte, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.Settings = slices.Clone(settings); return nil })
}
