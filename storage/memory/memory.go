// Package memory is the embedded storage backend: mutex-guarded maps with the
// same semantics as storage/postgres. It backs `make run` and fast tests; its
// state dies with the process, so it serves exactly one replica.
package memory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// Store implements storage.Store in memory. One mutex guards everything:
// every method is a short critical section, which makes each one atomic and
// its audit write part of the same "transaction".
type Store struct {
	mu            sync.Mutex
	now           func() time.Time
	orgs          map[string]storage.Organization // by ID
	users         map[string]storage.User         // by ID
	memberships   map[[2]string]storage.Membership
	clients       map[string]storage.Client
	authRequests  map[string]storage.AuthRequest
	codes         map[string]string // code hash → auth request ID
	grants        map[string]storage.Grant
	refreshTokens map[string]storage.RefreshToken
	revokedJTIs   map[string]time.Time
	sessions      map[string]storage.Session
	keys          map[string]storage.SigningKey
	audit         []storage.AuditEvent
	domains       map[string]storage.OrganizationDomain
	actionTokens  map[string]storage.ActionToken
	totp          map[string]storage.TOTP
	backupCodes   map[string]map[string]time.Time // user → code hash → used at
	otp           map[string]storage.OTPChallenge
	connections   map[string]storage.Connection
	identities    map[identityKey]storage.FederatedIdentity
	ssoStates     map[string]storage.FederationState
	features      map[string]storage.FeatureDefinition
	orgFeatures   map[string]map[string]storage.FeatureSetting
	featureLog    []storage.FeatureChange
	templates     map[string]storage.FeatureTemplate
	applications  []storage.TemplateApplication
	invitations   map[string]storage.Invitation // by ID
	widgets       map[string]storage.Widget
	dashboards    map[[2]string][]byte         // user, org → layout
	usage         map[storage.UsageCount]int64 // key with Count zero → count
	apis          map[string]storage.API       // by identifier
	consents      map[[2]string]storage.Consent
	rates         map[rateKey]rateEntry
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store. now is used only to stamp rows that callers do
// not stamp themselves (created/updated times); nil means time.Now.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:           now,
		orgs:          map[string]storage.Organization{},
		users:         map[string]storage.User{},
		memberships:   map[[2]string]storage.Membership{},
		clients:       map[string]storage.Client{},
		authRequests:  map[string]storage.AuthRequest{},
		codes:         map[string]string{},
		grants:        map[string]storage.Grant{},
		refreshTokens: map[string]storage.RefreshToken{},
		revokedJTIs:   map[string]time.Time{},
		sessions:      map[string]storage.Session{},
		keys:          map[string]storage.SigningKey{},
		domains:       map[string]storage.OrganizationDomain{},
		actionTokens:  map[string]storage.ActionToken{},
		totp:          map[string]storage.TOTP{},
		backupCodes:   map[string]map[string]time.Time{},
		otp:           map[string]storage.OTPChallenge{},
		connections:   map[string]storage.Connection{},
		identities:    map[identityKey]storage.FederatedIdentity{},
		ssoStates:     map[string]storage.FederationState{},
		features:      map[string]storage.FeatureDefinition{},
		orgFeatures:   map[string]map[string]storage.FeatureSetting{},
		invitations:   map[string]storage.Invitation{},
		widgets:       map[string]storage.Widget{},
		dashboards:    map[[2]string][]byte{},
		usage:         map[storage.UsageCount]int64{},
		templates:     map[string]storage.FeatureTemplate{},
		apis:          map[string]storage.API{},
		consents:      map[[2]string]storage.Consent{},
		rates:         map[rateKey]rateEntry{},
	}
}

// Close implements storage.Store.
func (s *Store) Close() {}

func (s *Store) stamp() time.Time { return s.now().UTC() }

// appendAudit must be called with s.mu held.
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

func (s *Store) appendAudit(ev storage.AuditEvent) {
	if ev.Type == "" {
		return
	}
	if ev.ID == "" {
		ev.ID = random.ID()
	}
	if ev.Time.IsZero() {
		ev.Time = s.stamp()
	}
	ev.Details = cloneMap(ev.Details)
	s.audit = append(s.audit, ev)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

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
	u.FailedLogins++
	u.LockedUntil = p.LockedUntil(u.FailedLogins, now)
	u.UpdatedAt = s.stamp()
	s.users[userID] = u
	if p.Locks(u.FailedLogins) {
		s.appendAudit(storage.LockEvent(lockEv, u.FailedLogins, u.LockedUntil))
	}
	return storage.Ticket{Count: u.FailedLogins, LockAfter: p.LockAfter}, nil
}

func (s *Store) ReleaseAdmission(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	u.FailedLogins = max(u.FailedLogins-1, 0)
	s.users[userID] = u
	return nil
}

func (s *Store) LoginSucceeded(_ context.Context, userID string, t *storage.Ticket, now time.Time, newHash string, sess storage.Session, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return storage.ErrNotFound
	}
	if t != nil {
		if u.FailedLogins != t.Count && t.LockAfter > 0 && u.FailedLogins >= t.LockAfter && u.Locked(now) {
			return storage.ErrLocked // failures admitted after this check locked the account
		}
		u.FailedLogins = max(u.FailedLogins-t.Count, 0)
		if u.FailedLogins == 0 {
			u.LockedUntil = time.Time{}
		}
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
	return nil
}
