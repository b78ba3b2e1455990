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

// --- Organizations ---

func (s *Store) UpsertOrganization(_ context.Context, o storage.Organization, ev storage.AuditEvent) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.stamp()
	for id, existing := range s.orgs {
		if existing.Slug == o.Slug {
			existing.Name = o.Name
			existing.UpdatedAt = now
			s.orgs[id] = existing
			s.appendAudit(ev)
			return existing, nil
		}
	}
	o = s.insertOrg(o, now)
	s.appendAudit(ev)
	return o, nil
}

// insertOrg stores a new organization with the schema's defaults.
func (s *Store) insertOrg(o storage.Organization, now time.Time) storage.Organization {
	if o.ID == "" {
		o.ID = random.ID()
	}
	if o.MFAPolicy == "" {
		o.MFAPolicy = "optional"
	}
	if o.Plan == "" {
		o.Plan = "free"
	}
	o.CreatedAt, o.UpdatedAt = now, now
	s.orgs[o.ID] = o
	return o
}

func (s *Store) OrganizationByID(_ context.Context, id string) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[id]
	if !ok {
		return o, storage.ErrNotFound
	}
	return o, nil
}

func (s *Store) OrganizationBySlug(_ context.Context, slug string) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orgs {
		if o.Slug == slug {
			return o, nil
		}
	}
	return storage.Organization{}, storage.ErrNotFound
}

func (s *Store) ListOrganizations(_ context.Context, q storage.OrgQuery) ([]storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return page(s.orgs, q.Search, q.After, q.Limit, func(o storage.Organization) (string, string) { return o.Slug, o.Name }), nil
}

// page is ListOrganizations and ListUsers: the rows whose key or name
// holds search (ignoring case), with keys after after, in byte order of
// key, at most storage.PageSize(limit) of them.
func page[T any](rows map[string]T, search, after string, limit int, fields func(T) (key, name string)) []T {
	search = strings.ToLower(search)
	out := []T{}
	for _, r := range rows {
		key, name := fields(r)
		if key > after && (strings.Contains(strings.ToLower(key), search) || strings.Contains(strings.ToLower(name), search)) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b T) int {
		ka, _ := fields(a)
		kb, _ := fields(b)
		return strings.Compare(ka, kb)
	})
	return out[:min(len(out), storage.PageSize(limit))]
}

func (s *Store) CreateOrganization(_ context.Context, o storage.Organization, ownerID string, ev storage.AuditEvent) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, existing := range s.orgs {
		if existing.Slug == o.Slug {
			return storage.Organization{}, storage.ErrConflict
		}
	}
	if _, ok := s.users[ownerID]; !ok && ownerID != "" {
		return storage.Organization{}, storage.ErrNotFound
	}
	now := s.stamp()
	o = s.insertOrg(o, now)
	if ownerID != "" {
		s.memberships[[2]string{ownerID, o.ID}] = storage.Membership{UserID: ownerID, OrgID: o.ID, Role: "owner", CreatedAt: now, UpdatedAt: now}
	}
	ev.OrgID = o.ID
	s.appendAudit(ev)
	return o, nil
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

// updateOrg is the shape of every simple organization setter: under the
// lock, find it, change it, stamp it and write ev; nothing happens when
// change fails.
func (s *Store) updateOrg(orgID string, ev storage.AuditEvent, change func(*storage.Organization) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return storage.ErrNotFound
	}
	if err := change(&o); err != nil {
		return err
	}
	o.UpdatedAt = s.stamp()
	s.orgs[orgID] = o
	s.appendAudit(ev)
	return nil
}

func (s *Store) SetMFAPolicy(_ context.Context, orgID, policy string, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.MFAPolicy = policy; return nil })
}

func (s *Store) SetOrgSettings(_ context.Context, orgID string, settings []byte, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.Settings = slices.Clone(settings); return nil })
}

func (s *Store) SetEmailPolicy(_ context.Context, orgID string, requireVerified bool, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.RequireVerifiedEmail = requireVerified; return nil })
}

func (s *Store) SetBranding(_ context.Context, orgID string, b storage.Branding, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.Branding = b; return nil })
}

func (s *Store) SetJoinByDomain(_ context.Context, orgID string, on bool, ev storage.AuditEvent) error {
	return s.updateOrg(orgID, ev, func(o *storage.Organization) error { o.JoinByDomain = on; return nil })
}

// --- Users ---

func (s *Store) CreateUser(_ context.Context, u storage.User, ev storage.AuditEvent) (storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Email = strings.ToLower(u.Email)
	for _, existing := range s.users {
		if existing.Email == u.Email {
			return storage.User{}, storage.ErrConflict
		}
	}
	if u.ID == "" {
		u.ID = random.ID()
	}
	now := s.stamp()
	u.CreatedAt, u.UpdatedAt = now, now
	s.users[u.ID] = u
	s.appendAudit(ev)
	return u, nil
}

func (s *Store) CreateUserWithOrganization(_ context.Context, u storage.User, o storage.Organization, ev, orgEv storage.AuditEvent) (storage.User, storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Email = strings.ToLower(u.Email)
	for _, existing := range s.users {
		if existing.Email == u.Email {
			return storage.User{}, storage.Organization{}, storage.ErrConflict
		}
	}
	for _, existing := range s.orgs {
		if existing.Slug == o.Slug {
			return storage.User{}, storage.Organization{}, storage.ErrConflict
		}
	}
	if u.ID == "" {
		u.ID = random.ID()
	}
	now := s.stamp()
	u.CreatedAt, u.UpdatedAt = now, now
	s.users[u.ID] = u
	o = s.insertOrg(o, now)
	s.memberships[[2]string{u.ID, o.ID}] = storage.Membership{UserID: u.ID, OrgID: o.ID, Role: "owner", CreatedAt: now, UpdatedAt: now}
	s.appendAudit(ev)
	orgEv.OrgID = o.ID
	s.appendAudit(orgEv)
	return u, o, nil
}

func (s *Store) UserByID(_ context.Context, id string) (storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return u, storage.ErrNotFound
	}
	return u, nil
}

func (s *Store) UserByEmail(_ context.Context, email string) (storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	email = strings.ToLower(email)
	for _, u := range s.users {
		if u.Email == email {
			return u, nil
		}
	}
	return storage.User{}, storage.ErrNotFound
}

func (s *Store) ListUsers(_ context.Context, q storage.UserQuery) ([]storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return page(s.users, q.Search, q.After, q.Limit, func(u storage.User) (string, string) { return u.Email, u.Name }), nil
}

// updateUser is updateOrg for users.
func (s *Store) updateUser(userID string, ev storage.AuditEvent, change func(*storage.User)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	change(&u)
	u.UpdatedAt = s.stamp()
	s.users[userID] = u
	s.appendAudit(ev)
	return nil
}

func (s *Store) UpdateProfile(_ context.Context, id, name string, verified bool, ev storage.AuditEvent) error {
	return s.updateUser(id, ev, func(u *storage.User) { u.Name, u.EmailVerified = name, verified })
}

func (s *Store) SetPassword(_ context.Context, id, hash string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return storage.ErrNotFound
	}
	u.PasswordHash, u.FailedLogins, u.LockedUntil, u.UpdatedAt = hash, 0, time.Time{}, s.stamp()
	s.loginSettled[id] = s.loginChecks[id]
	s.users[id] = u
	s.revokeUserLocked(id, now)
	s.appendAudit(ev)
	return nil
}

func (s *Store) SetDisabled(_ context.Context, id string, disabled bool, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return storage.ErrNotFound
	}
	u.Disabled, u.UpdatedAt = disabled, s.stamp()
	s.users[id] = u
	if disabled {
		s.revokeUserLocked(id, now)
	}
	s.appendAudit(ev)
	return nil
}

// revokeUserLocked ends every session and grant of a user; s.mu held.
func (s *Store) revokeUserLocked(userID string, now time.Time) {
	for h, sess := range s.sessions {
		if sess.UserID == userID && sess.RevokedAt.IsZero() {
			sess.RevokedAt = now
			s.sessions[h] = sess
		}
	}
	for id, g := range s.grants {
		if g.UserID == userID && g.RevokedAt.IsZero() {
			g.RevokedAt = now
			s.grants[id] = g
		}
	}
	s.endActionTokensLocked(userID, now, "")
}

// endActionTokensLocked uses up the user's pending email links (of one
// purpose, or all for ""), as PostgreSQL's endActionTokens.
func (s *Store) endActionTokensLocked(userID string, now time.Time, purpose string) {
	for h, t := range s.actionTokens {
		if t.UserID == userID && t.UsedAt.IsZero() && (purpose == "" || t.Purpose == purpose) {
			t.UsedAt = now
			s.actionTokens[h] = t
		}
	}
}

func (s *Store) SetPhone(_ context.Context, id, phone string, verified bool, ev storage.AuditEvent) error {
	return s.updateUser(id, ev, func(u *storage.User) { u.Phone, u.PhoneVerified = phone, verified })
}

func (s *Store) SetPlatformAdmin(_ context.Context, userID string, on bool, ev storage.AuditEvent) error {
	return s.updateUser(userID, ev, func(u *storage.User) { u.PlatformAdmin = on })
}

// --- Memberships ---

func (s *Store) UpsertMembership(_ context.Context, m storage.Membership, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[m.UserID]; !ok {
		return storage.ErrNotFound
	}
	if _, ok := s.orgs[m.OrgID]; !ok {
		return storage.ErrNotFound
	}
	key := [2]string{m.UserID, m.OrgID}
	now := s.stamp()
	if old, ok := s.memberships[key]; ok {
		m.CreatedAt = old.CreatedAt
	} else {
		m.CreatedAt = now
	}
	m.UpdatedAt = now
	s.memberships[key] = m
	s.appendAudit(ev)
	return nil
}

func (s *Store) MembersOf(_ context.Context, orgID string) ([]storage.Membership, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Membership
	for k, m := range s.memberships {
		if k[1] == orgID {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b storage.Membership) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *Store) SetMemberRole(_ context.Context, orgID, userID, role string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{userID, orgID}
	m, ok := s.memberships[key]
	if !ok {
		return storage.ErrNotFound
	}
	if m.Role == "owner" && role != "owner" {
		owners := 0
		for k, x := range s.memberships {
			if k[1] == orgID && x.Role == "owner" {
				owners++
			}
		}
		if owners <= 1 {
			return storage.ErrLastOwner
		}
	}
	if role == "" {
		delete(s.memberships, key)
	} else {
		m.Role, m.UpdatedAt = role, s.stamp()
		s.memberships[key] = m
	}
	s.appendAudit(ev)
	return nil
}

func (s *Store) MembershipsByUser(_ context.Context, userID string) ([]storage.Membership, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Membership
	for k, m := range s.memberships {
		if k[0] == userID {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b storage.Membership) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// --- Logins ---

func (s *Store) LoginFailed(_ context.Context, userID string, p storage.LockoutPolicy, now time.Time, ev storage.AuditEvent) (storage.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return u, storage.ErrNotFound
	}
	u.FailedLogins++
	u.LockedUntil = p.LockedUntil(u.FailedLogins, now)
	u.UpdatedAt = s.stamp()
	s.users[userID] = u
	s.loginChecks[userID]++
	s.appendAudit(ev)
	return u, nil
}

func (s *Store) AdmitLogin(_ context.Context, userID string, p storage.LockoutPolicy, now time.Time, lockEv storage.AuditEvent) (storage.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.Ticket{}, storage.ErrNotFound
	}
	if u.Locked(now) || (p.MaxFailures > 0 && u.FailedLogins >= p.MaxFailures) {
		return storage.Ticket{}, storage.ErrLocked
	}
	before := u.LockedUntil
	u.FailedLogins++
	u.LockedUntil = p.LockedUntil(u.FailedLogins, now)
	u.UpdatedAt = s.stamp()
	s.users[userID] = u
	s.loginChecks[userID]++
	logged := p.Locks(u.FailedLogins)
	if logged {
		s.appendAudit(storage.LockEvent(lockEv, u.FailedLogins, u.LockedUntil))
	}
	return storage.Ticket{Count: u.FailedLogins, LockAfter: p.LockAfter, LockedBefore: before, Armed: u.LockedUntil, Logged: logged,
		Seq: s.loginChecks[userID]}, nil
}

func (s *Store) ReleaseAdmission(_ context.Context, userID string, t storage.Ticket, liftEv storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	if t.Seq <= s.loginSettled[userID] {
		return nil // already forgiven by a success or a reset
	}
	own := s.loginChecks[userID] == t.Seq && u.LockedUntil.Equal(t.Armed)
	if own {
		u.LockedUntil = t.LockedBefore
	}
	u.FailedLogins = max(u.FailedLogins-1, 0)
	s.users[userID] = u
	if own && t.Logged {
		s.appendAudit(liftEv)
	}
	return nil
}

func (s *Store) LoginSucceeded(_ context.Context, userID string, t *storage.Ticket, now time.Time, newHash string, sess storage.Session, ev, liftEv storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	var lifted bool
	if t != nil {
		later := s.loginChecks[userID] - t.Seq
		if storage.LockedAfter(*t, later) && u.Locked(now) {
			return storage.ErrLocked // checks admitted after this one left the account locked
		}
		u.FailedLogins = storage.FailuresAfter(u.FailedLogins, later)
		if u.FailedLogins == 0 {
			u.LockedUntil = time.Time{}
		}
		lifted = t.Logged && later == 0
		s.loginSettled[userID] = max(s.loginSettled[userID], t.Seq)
	}
	if newHash != "" {
		u.PasswordHash = newHash
	}
	u.UpdatedAt = s.stamp()
	s.users[userID] = u
	if sess.IDHash != "" {
		s.sessions[sess.IDHash] = sess
	}
	s.appendAudit(ev)
	if lifted {
		s.appendAudit(liftEv)
	}
	return nil
}
