// Package memory is the embedded storage backend: mutex-guarded maps with the
// same semantics as storage/postgres. It backs `make run` and fast tests; its
// state dies with the process, so it serves exactly one replica.
package memory

import (
	"context"
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
	codes         map[string]string     // code hash → auth request ID
	codeClaims    map[string]bool       // code hashes whose exchange is in flight (ClaimCode)
	redemptions   map[string]redemption // by auth request ID, how its code was redeemed
	grants        map[string]storage.Grant
	refreshTokens map[string]storage.RefreshToken
	revokedJTIs   map[string]time.Time
	sessions      map[string]storage.Session
	keys          map[string]storage.SigningKey
	audit         []storage.AuditEvent
	auditLinks    []storage.AuditLink // audit[i]'s place in the chain (without its event)
	domains       map[domainKey]storage.OrganizationDomain
	actionTokens  map[string]storage.ActionToken
	totp          map[string]storage.TOTP
	backupCodes   map[string]map[string]time.Time // user → code hash → used at
	otp           map[string]storage.OTPChallenge
	passkeys      map[string]storage.Passkey // by credential ID
	// passkeyChallenges by ID hash.
	passkeyChallenges map[string]storage.PasskeyChallenge
	connections       map[string]storage.Connection
	identities        map[identityKey]storage.FederatedIdentity
	ssoStates         map[string]storage.FederationState
	features          map[string]storage.FeatureDefinition
	orgFeatures       map[string]map[string]storage.FeatureSetting
	featureLog        []storage.FeatureChange
	templates         map[string]storage.FeatureTemplate
	applications      []storage.TemplateApplication
	invitations       map[string]storage.Invitation // by ID
	widgets           map[string]storage.Widget
	dashboards        map[[2]string][]byte         // user, org → layout
	usage             map[storage.UsageCount]int64 // key with Count zero → count
	apis              map[string]storage.API       // by identifier
	consents          map[[2]string]storage.Consent
	rates             map[rateKey]rateEntry
	loginChecks       map[string]int64 // user → number of the last admitted check or counted failure
	loginSettled      map[string]int64 // user → checks up to this number were forgiven (success, reset)
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store. now is used only to stamp rows that callers do
// not stamp themselves (created/updated times); nil means time.Now.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:               now,
		orgs:              map[string]storage.Organization{},
		users:             map[string]storage.User{},
		memberships:       map[[2]string]storage.Membership{},
		clients:           map[string]storage.Client{},
		authRequests:      map[string]storage.AuthRequest{},
		codes:             map[string]string{},
		codeClaims:        map[string]bool{},
		redemptions:       map[string]redemption{},
		grants:            map[string]storage.Grant{},
		refreshTokens:     map[string]storage.RefreshToken{},
		revokedJTIs:       map[string]time.Time{},
		sessions:          map[string]storage.Session{},
		keys:              map[string]storage.SigningKey{},
		domains:           map[domainKey]storage.OrganizationDomain{},
		actionTokens:      map[string]storage.ActionToken{},
		totp:              map[string]storage.TOTP{},
		passkeys:          map[string]storage.Passkey{},
		passkeyChallenges: map[string]storage.PasskeyChallenge{},
		backupCodes:       map[string]map[string]time.Time{},
		otp:               map[string]storage.OTPChallenge{},
		connections:       map[string]storage.Connection{},
		identities:        map[identityKey]storage.FederatedIdentity{},
		ssoStates:         map[string]storage.FederationState{},
		features:          map[string]storage.FeatureDefinition{},
		orgFeatures:       map[string]map[string]storage.FeatureSetting{},
		invitations:       map[string]storage.Invitation{},
		widgets:           map[string]storage.Widget{},
		dashboards:        map[[2]string][]byte{},
		usage:             map[storage.UsageCount]int64{},
		templates:         map[string]storage.FeatureTemplate{},
		apis:              map[string]storage.API{},
		consents:          map[[2]string]storage.Consent{},
		rates:             map[rateKey]rateEntry{},
		loginChecks:       map[string]int64{},
		loginSettled:      map[string]int64{},
	}
}

// Close implements storage.Store.
func (s *Store) Close() {}

func (s *Store) stamp() time.Time { return s.now().UTC() }

// appendAudit must be called with s.mu held.
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
	var prev []byte
	if n := len(s.auditLinks); n > 0 {
		prev = s.auditLinks[n-1].Hash
	}
	l := storage.ChainAudit(prev, 0, int64(len(s.auditLinks))+1, ev)
	l.Event = storage.AuditEvent{}
	s.auditLinks = append(s.auditLinks, l)
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

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

// --- Maintenance ---

func (s *Store) Ping(context.Context) error { return nil }

func (s *Store) DeleteExpired(_ context.Context, now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	over := func(t time.Time) bool { return !now.Before(t) }
	n := deleteWhere(s.authRequests, func(ar storage.AuthRequest) bool {
		if over(ar.ExpiresAt) {
			delete(s.codes, ar.CodeHash)
			delete(s.redemptions, ar.ID)
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
	n += deleteWhere(s.passkeyChallenges, func(x storage.PasskeyChallenge) bool { return over(x.ExpiresAt) })
	n += deleteWhere(s.keys, func(k storage.SigningKey) bool { return !k.ExpiresAt.IsZero() && over(k.ExpiresAt) })
	n += deleteWhere(s.rates, func(x rateEntry) bool { return over(x.expires) })
	return n, nil
}
