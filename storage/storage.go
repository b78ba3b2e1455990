package storage

import (
	"context"
	"time"
)

// Every mutating method that records a security event takes the AuditEvent
// to write and commits it in the same transaction as the change: either both
// land or neither does. Backends fill AuditEvent.ID when it is empty.

// Organizations stores tenants.
type Organizations interface {
	// UpsertOrganization creates the organization or updates its name,
	// keyed by slug, and returns the stored row.
	UpsertOrganization(ctx context.Context, o Organization, ev AuditEvent) (Organization, error)
	OrganizationByID(ctx context.Context, id string) (Organization, error)
	OrganizationBySlug(ctx context.Context, slug string) (Organization, error)
	// CreateOrganization creates o with ownerID as its owner in one
	// transaction; ErrConflict when the slug is taken. ownerID "" creates
	// it without members (its owner is invited).
	CreateOrganization(ctx context.Context, o Organization, ownerID string, ev AuditEvent) (Organization, error)
	// DeleteOrganization removes it with everything that belongs to it
	// (memberships, domains, invitations, its connections, clients and
	// APIs, feature settings and logs) and revokes the grants its clients
	// hold; ErrNotFound when there is none. Audit rows stay.
	DeleteOrganization(ctx context.Context, orgID string, ev AuditEvent) error
	// SetMFAPolicy sets "off", "optional", "required" or "passkey".
	SetMFAPolicy(ctx context.Context, orgID, policy string, ev AuditEvent) error
	// SetOrgSettings replaces the organization's settings (a JSON object).
	SetOrgSettings(ctx context.Context, orgID string, settings []byte, ev AuditEvent) error
	// SetEmailPolicy sets whether members need a verified email.
	SetEmailPolicy(ctx context.Context, orgID string, requireVerified bool, ev AuditEvent) error
	// SetJoinByDomain sets whether people join by verified email domain.
	SetJoinByDomain(ctx context.Context, orgID string, on bool, ev AuditEvent) error
	// SetBranding sets the organization's look on the sign-in screens.
	SetBranding(ctx context.Context, orgID string, b Branding, ev AuditEvent) error
	// AddDomain records a domain of an organization (upsert). A domain
	// another organization verified is ErrConflict; another
	// organization's unverified claim gives way, so a claim never blocks
	// the domain's real owner. Re-adding keeps a verification.
	AddDomain(ctx context.Context, d OrganizationDomain, ev AuditEvent) error
	// OrganizationByVerifiedDomain finds the organization that verified the
	// (lower-case) domain.
	OrganizationByVerifiedDomain(ctx context.Context, domain string) (Organization, error)
	// DomainsOf lists an organization's domains.
	DomainsOf(ctx context.Context, orgID string) ([]OrganizationDomain, error)
	// ListOrganizations pages through organizations in byte order of slug
	// (keyset: the next page starts After the last slug of this one). The
	// search matches literally: % _ and \ are plain characters.
	ListOrganizations(ctx context.Context, q OrgQuery) ([]Organization, error)
	// RemoveDomain removes the organization's (lower-case) domain;
	// ErrNotFound when it has no such domain.
	RemoveDomain(ctx context.Context, orgID, domain string, ev AuditEvent) error
}

// Users stores accounts.
type Users interface {
	// CreateUser stores a new user; ErrConflict when the email is taken.
	CreateUser(ctx context.Context, u User, ev AuditEvent) (User, error)
	// CreateUserWithOrganization stores a new user, a new organization
	// and the user's ownership of it in one transaction, writing ev and
	// orgEv: all of it, or (ErrConflict for a taken email or slug) none.
	CreateUserWithOrganization(ctx context.Context, u User, o Organization, ev, orgEv AuditEvent) (User, Organization, error)
	UserByID(ctx context.Context, id string) (User, error)
	// SetPlatformAdmin grants or withdraws the platform-admin role.
	SetPlatformAdmin(ctx context.Context, userID string, on bool, ev AuditEvent) error
	// UserByEmail looks the user up by lower-cased email.
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers pages through users in byte order of email, as
	// ListOrganizations does through organizations.
	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	// UpdateProfile changes name and email-verified state.
	UpdateProfile(ctx context.Context, id, name string, emailVerified bool, ev AuditEvent) error
	// SetPassword replaces the password hash, clears the lockout, and
	// revokes every session and grant of the user: a password change must
	// log out every other holder of the old credentials.
	SetPassword(ctx context.Context, id, hash string, now time.Time, ev AuditEvent) error
	// SetDisabled disables or enables the user; disabling revokes every
	// session and grant.
	SetDisabled(ctx context.Context, id string, disabled bool, now time.Time, ev AuditEvent) error
	// SetPhone sets the user's phone number and whether it is verified.
	SetPhone(ctx context.Context, id, phone string, verified bool, ev AuditEvent) error
}

// Memberships stores user ↔ organization roles.
type Memberships interface {
	UpsertMembership(ctx context.Context, m Membership, ev AuditEvent) error
	MembershipsByUser(ctx context.Context, userID string) ([]Membership, error)
	// MembersOf lists an organization's memberships, oldest first.
	MembersOf(ctx context.Context, orgID string) ([]Membership, error)
	// SetMemberRole changes a member's role, or removes the member when
	// role is empty, atomically refusing (ErrLastOwner) to leave the
	// organization without an owner; ErrNotFound when not a member.
	SetMemberRole(ctx context.Context, orgID, userID, role string, ev AuditEvent) error
}

// Logins decides whether a credential may be checked and records the
// outcome, atomically with the lock state. Every check (password, second
// factor) is admitted only while the account is not locked and is counted
// as a failure before it runs; a right answer then takes back what it
// stands for. So parallel guesses cannot outrun the lock, a burst is
// evaluated at most up to the hard cap, and a success never erases
// failures admitted after it.
type Logins interface {
	// AdmitLogin admits one credential check: ErrLocked, changing
	// nothing, while the account is locked at now or has reached
	// p.MaxFailures; otherwise it counts the attempt as a failure, applies
	// p to the new count and returns the ticket. When the new count
	// reaches p.LockAfter or p.MaxFailures it writes lockEv (with the
	// count and the lock's end added) in the same transaction.
	AdmitLogin(ctx context.Context, userID string, p LockoutPolicy, now time.Time, lockEv AuditEvent) (Ticket, error)
	// ReleaseAdmission takes back one admitted check (t) that proved right
	// but does not end the sign-in (a password before its second factor),
	// or that was never made (shed). It erases no other failure; when
	// nothing was admitted after t (t.Seq) and t's own lock still stands, the lock goes back to what it was before t, so
	// a right answer does not re-arm the backoff against its own next
	// step. When that takes back a lock whose row t's admission wrote
	// (t.Logged), liftEv is written in the same transaction: the log does
	// not keep a lock that no longer stands. A check that a success or a
	// reset has already settled (its failure forgiven) takes nothing back.
	ReleaseAdmission(ctx context.Context, userID string, t Ticket, liftEv AuditEvent) error
	// LoginFailed atomically increments the user's consecutive-failure
	// counter, applies the lockout policy to the new count, writes ev and
	// returns the updated user. N concurrent calls raise the counter by
	// exactly N. (For checks that were not admitted, such as re-entering
	// the password on the account page.)
	LoginFailed(ctx context.Context, userID string, p LockoutPolicy, now time.Time, ev AuditEvent) (User, error)
	// LoginSucceeded records a successful sign-in: it stores the new SSO
	// session, replaces the password hash when newHash is not empty
	// (transparent rehash) and writes ev. With a ticket it takes back the
	// failures counted up to the ticket's admission (those admitted later,
	// by t.Seq, stay with their lock), and it refuses (ErrLocked, nothing
	// written) when anything admitted after the ticket leaves the account
	// locked at now (LockAfter reached). When it takes back a lock whose row the
	// ticket's admission wrote (t.Logged, nothing admitted since), liftEv
	// is written too, as with ReleaseAdmission. A nil ticket (a session
	// without a credential check of ours) leaves the counter.
	LoginSucceeded(ctx context.Context, userID string, t *Ticket, now time.Time, newHash string, s Session, ev, liftEv AuditEvent) error
}

// Ticket is the admission of one credential check.
type Ticket struct {
	// Count is the failure counter right after this check was admitted.
	Count int
	// LockAfter is the policy's lock threshold, from which failures
	// admitted later refuse this check's success.
	LockAfter int
	// LockedBefore is the lock as it was before this admission (zero:
	// none), which ReleaseAdmission puts back; Armed is the lock this
	// admission set (zero: none), which must still stand for that.
	LockedBefore, Armed time.Time
	// Logged: this admission reached a lock and wrote its audit row.
	Logged bool
	// Seq is this admission's number in the user's sequence of admitted
	// checks and counted failures: a higher number now means something
	// was admitted after it.
	Seq int64
}

// Clients stores relying parties.
type Clients interface {
	// UpsertClient creates or replaces the client keyed by ID.
	UpsertClient(ctx context.Context, c Client, ev AuditEvent) (Client, error)
	ClientByID(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	// ClientsOf lists the clients an organization registered.
	ClientsOf(ctx context.Context, orgID string) ([]Client, error)
	// DeleteClient removes the client and revokes its grants, so its
	// refresh tokens die and its access tokens stop introspecting.
	DeleteClient(ctx context.Context, id string, now time.Time, ev AuditEvent) error
}

// AuthRequests stores /authorize transactions and their codes.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, ar AuthRequest) error
	// AuthRequestByID returns ErrNotFound for unknown or expired requests.
	AuthRequestByID(ctx context.Context, id string) (AuthRequest, error)
	// CompleteAuthRequest records the authenticated user; it fails with
	// ErrNotFound when the request is unknown or expired and with
	// ErrAlreadyUsed when a code was already issued for it.
	CompleteAuthRequest(ctx context.Context, id, userID string, authTime time.Time, amr []string, sessionHash string) error
	// SaveAuthCode stores the hash of the code issued for a completed
	// request. A request gets at most one code (ErrAlreadyUsed otherwise).
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	// SetAuthRequestOrg records the organization chosen for the login.
	SetAuthRequestOrg(ctx context.Context, id, orgID string) error
	// SetPendingLogin records that userID passed the first factor(s) amr
	// and still owes a second one; ErrNotFound for unknown or expired
	// requests, ErrAlreadyUsed once a code was issued.
	SetPendingLogin(ctx context.Context, id, userID string, amr []string, at time.Time) error
	// RedeemCode atomically marks the code redeemed and creates the grant
	// (token family) grantID, valid until grantExpiresAt, from the request's
	// user, client, scopes, resources, auth time and AMR, provided the code
	// matches b (client, redirect URI, PKCE challenge). Exactly one of any
	// number of concurrent calls succeeds. A request that does not match b
	// gets ErrMismatch and leaves the code as it was, so a forged request
	// cannot burn it. When a matching code was already redeemed it revokes
	// the grant of that first redemption, writes replayEv and returns
	// ErrAlreadyUsed; past its expiry it returns ErrExpired; unknown codes
	// give ErrNotFound. ev is written with a successful redemption.
	RedeemCode(ctx context.Context, codeHash string, b CodeBinding, grantID string, grantExpiresAt, now time.Time, ev, replayEv AuditEvent) (AuthRequest, error)
	// ClaimCode marks an exchange of the code in flight until release, or
	// until this process ends (a replica that dies mid-exchange frees its
	// claims). ok is false when another exchange holds it, here or on a
	// replica still alive, or when no claim can be held now; release is
	// then a no-op. Only a claim holder may call RedeemClaimedCode.
	ClaimCode(ctx context.Context, codeHash string) (release func(), ok bool, err error)
	// RedeemClaimedCode is RedeemCode under the code's claim. The
	// redemption is marked claimed, and a matching second presentation is
	// taken as the retry of a lost answer, not a replay, when LostAnswer
	// holds: the first redemption's grant is revoked, grantID is created
	// in its place, the request is returned, and ev is written with the
	// replaced grant (RetriedRedemption).
	RedeemClaimedCode(ctx context.Context, codeHash string, b CodeBinding, grantID string, grantExpiresAt, now time.Time, grace time.Duration, ev, replayEv AuditEvent) (AuthRequest, error)
	// CodeDelivered records that the answer of the code's redemption into
	// grantID was written; from then on it is never retried.
	CodeDelivered(ctx context.Context, codeHash, grantID string, at time.Time) error
}

// AccessTokenState is what introspection and userinfo need to know about a
// JWT access token, read in one round trip.
type AccessTokenState struct {
	Revoked bool    // the jti is on the revocation list
	Grant   Grant   // zero for client_credentials tokens
	User    User    // zero for client_credentials tokens
	Org     OrgRole // the grant's organization and current role, if any
}

// RefreshTokenState is a refresh token with what the refresh path must
// check: its grant (family) and its user.
type RefreshTokenState struct {
	Token RefreshToken
	Grant Grant
	User  User
	// Org is the grant's organization and the user's current role in it
	// (zero when the grant has none, or the membership has ended).
	Org OrgRole
}

// OrgRole is an organization with the user's role in it.
type OrgRole struct {
	Org  Organization
	Role string
	// Features are the organization's feature settings (its plan is in
	// Org.Plan), read with the grant so that entitlement claims cost no
	// extra round trip.
	Features map[string]FeatureSetting
}

// Grants stores token families and refresh tokens.
type Grants interface {
	// IssueRefreshToken stores the first refresh token of a grant and
	// writes ev; ErrNotFound when the grant does not exist. It does not
	// refuse a grant revoked meanwhile (by a replay of its code): the token
	// is stored dead, since every use checks the grant.
	IssueRefreshToken(ctx context.Context, rt RefreshToken, now time.Time, ev AuditEvent) error
	GrantByID(ctx context.Context, id string) (Grant, error)
	// RefreshTokenByHash returns the token, its grant and its user, in one
	// round trip, whatever their state; callers decide (see
	// RotateRefreshToken for reuse handling).
	RefreshTokenByHash(ctx context.Context, hash string) (RefreshTokenState, error)
	// RotateRefreshToken marks oldHash used and stores next in the same
	// grant, but only if oldHash is unused and the grant active. Exactly one
	// of any number of concurrent rotations of one token succeeds. A token
	// that was already used is reuse: the whole grant is revoked, reuseEv
	// written, and ErrAlreadyUsed returned, except within grace of its use
	// while its successor is still unused: that is the client's retry of a
	// refresh whose answer was lost (a replica died, a connection broke),
	// and it rotates again: next replaces the successor, which is marked
	// used (should it turn up after all, that is reuse). An inactive grant
	// gives ErrRevoked or ErrExpired.
	RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken, now time.Time, grace time.Duration, ev, reuseEv AuditEvent) error
	// RevokeGrant revokes the family (idempotent) and writes ev.
	RevokeGrant(ctx context.Context, id string, now time.Time, ev AuditEvent) error
	// RevokeAccessToken puts a JWT ID on the revocation list until
	// expiresAt (idempotent) and writes ev.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time, ev AuditEvent) error
	// AccessTokenState reads, in one round trip, whether jti is revoked and
	// (when grantID is not empty) the grant and its user.
	AccessTokenState(ctx context.Context, jti, grantID string) (AccessTokenState, error)
}

// Sessions stores SSO sessions (created by Logins.LoginSucceeded).
type Sessions interface {
	// SessionByHash returns the session whatever its state.
	SessionByHash(ctx context.Context, hash string) (Session, error)
	// TouchSession records activity for the idle timeout.
	TouchSession(ctx context.Context, hash string, now time.Time) error
	// RevokeSession ends the session (idempotent) and writes ev.
	RevokeSession(ctx context.Context, hash string, now time.Time, ev AuditEvent) error
	// SessionsByUser lists the user's sessions that are neither revoked nor
	// past their absolute expiry at now, newest first.
	SessionsByUser(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// ActionTokens stores email-link tokens.
type ActionTokens interface {
	CreateActionToken(ctx context.Context, t ActionToken, ev AuditEvent) error
	// ConsumeActionToken atomically marks the token used and returns it:
	// ErrNotFound for unknown hashes or another purpose, ErrExpired past
	// its expiry, ErrAlreadyUsed the second time. Of any number of
	// concurrent calls exactly one succeeds.
	ConsumeActionToken(ctx context.Context, hash, purpose string, now time.Time) (ActionToken, error)
	// ActionTokenState reads a token without using it, with the errors of
	// ConsumeActionToken: a page checks its link before showing a form.
	ActionTokenState(ctx context.Context, hash, purpose string, now time.Time) (ActionToken, error)
}

// MFA stores second factors.
type MFA interface {
	// SaveTOTP stores a (new, unconfirmed) TOTP secret, replacing any
	// previous one, and writes ev.
	SaveTOTP(ctx context.Context, t TOTP, ev AuditEvent) error
	TOTPByUser(ctx context.Context, userID string) (TOTP, error)
	// ConfirmTOTP marks the secret confirmed with the code of step.
	ConfirmTOTP(ctx context.Context, userID string, step int64, now time.Time, ev AuditEvent) error
	// UseTOTPStep atomically accepts step if it is later than every step
	// accepted before (ErrAlreadyUsed otherwise: a replayed code).
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	DeleteTOTP(ctx context.Context, userID string, ev AuditEvent) error
	// ReplaceBackupCodes stores a new set of code hashes, deleting the old.
	ReplaceBackupCodes(ctx context.Context, userID string, hashes []string, now time.Time, ev AuditEvent) error
	// UseBackupCode atomically marks an unused code used (ErrNotFound when
	// none matches) and writes ev.
	UseBackupCode(ctx context.Context, userID, hash string, now time.Time, ev AuditEvent) error
	BackupCodesRemaining(ctx context.Context, userID string) (int, error)
	// CreateOTPChallenge stores a sent SMS or email code.
	CreateOTPChallenge(ctx context.Context, c OTPChallenge, ev AuditEvent) error
	// VerifyOTPChallenge checks a code against challenge id of the auth
	// request, atomically: ErrNotFound (unknown, other request),
	// ErrExpired, ErrAlreadyUsed (used, or maxAttempts reached), ErrMismatch
	// (wrong code; the attempt is counted); nil marks it used.
	VerifyOTPChallenge(ctx context.Context, id, authRequestID, codeHash string, maxAttempts int, now time.Time) error
	// CountOTPChallenges counts codes sent to the user since since (send
	// rate limit).
	CountOTPChallenges(ctx context.Context, userID string, since time.Time) (int, error)
}

// Passkeys stores users' WebAuthn credentials and the state of their
// ceremonies.
type Passkeys interface {
	// AddPasskey stores a new credential of p.UserID; ErrConflict when its
	// ID is registered already (to anyone), ErrNotFound for an unknown
	// user.
	AddPasskey(ctx context.Context, p Passkey, ev AuditEvent) error
	// PasskeysByUser lists the user's credentials, oldest first.
	PasskeysByUser(ctx context.Context, userID string) ([]Passkey, error)
	// PasskeyByID finds a credential by its ID, whoever owns it.
	PasskeyByID(ctx context.Context, id []byte) (Passkey, error)
	// UsePasskey records a successful assertion atomically: the new sign
	// count, backup state and last use. A count that does not move past
	// the stored one while either is non-zero is what a cloned
	// authenticator shows: nothing changes, cloneEv is written and
	// ErrCloned returned. ErrNotFound for an unknown (removed) credential.
	UsePasskey(ctx context.Context, id []byte, signCount uint32, backupState bool, now time.Time, cloneEv AuditEvent) error
	// RenamePasskey relabels the user's credential; ErrNotFound when the
	// user has no such credential (another user's included).
	RenamePasskey(ctx context.Context, userID string, id []byte, name string, ev AuditEvent) error
	// DeletePasskey removes the user's credential; ErrNotFound as for
	// RenamePasskey.
	DeletePasskey(ctx context.Context, userID string, id []byte, ev AuditEvent) error
	// CreatePasskeyChallenge stores a ceremony's state.
	CreatePasskeyChallenge(ctx context.Context, c PasskeyChallenge) error
	// ConsumePasskeyChallenge atomically marks the challenge used and
	// returns it: ErrNotFound for an unknown hash or another browser's
	// challenge (which stays usable by its own), ErrExpired past its
	// expiry, ErrAlreadyUsed the second time. Of any number of concurrent
	// calls exactly one succeeds.
	ConsumePasskeyChallenge(ctx context.Context, idHash, browserHash string, now time.Time) (PasskeyChallenge, error)
}

// Federation stores upstream connections, linked identities and the state
// of trips upstream.
type Federation interface {
	UpsertConnection(ctx context.Context, c Connection, ev AuditEvent) error
	ConnectionByID(ctx context.Context, id string) (Connection, error)
	ListConnections(ctx context.Context) ([]Connection, error)
	// DeleteConnection removes a connection and the identities linked
	// through it (the accounts stay); ErrNotFound when there is none.
	DeleteConnection(ctx context.Context, id string, ev AuditEvent) error
	CreateFederationState(ctx context.Context, s FederationState) error
	// ConsumeFederationState atomically marks the state used and returns
	// it: ErrNotFound, ErrExpired, or ErrAlreadyUsed the second time.
	ConsumeFederationState(ctx context.Context, stateHash string, now time.Time) (FederationState, error)
	IdentityByUpstream(ctx context.Context, connectionID, issuer, subject string) (FederatedIdentity, error)
	// LinkIdentity links an upstream identity to an existing user
	// (ErrConflict when that upstream identity is linked already).
	LinkIdentity(ctx context.Context, fi FederatedIdentity, ev AuditEvent) error
	// ProvisionFederatedUser creates the user, their membership (when m is
	// not nil) and the link in one transaction (just-in-time provisioning).
	ProvisionFederatedUser(ctx context.Context, u User, m *Membership, fi FederatedIdentity, ev AuditEvent) (User, error)
	// UnlinkEmailLinks removes the user's links that were made on an email
	// assertion (LinkedByEmail) and writes ev with their number; it is
	// part of every account recovery.
	UnlinkEmailLinks(ctx context.Context, userID string, ev AuditEvent) (int, error)
	// ChangeEmail sets the user's address to email, verified (the person
	// proved the new mailbox), removes the upstream links made on an email
	// assertion, and writes ev; ErrConflict when another account has it.
	ChangeEmail(ctx context.Context, userID, email string, ev AuditEvent) error
	// IdentitiesOf lists the user's linked upstream identities.
	IdentitiesOf(ctx context.Context, userID string) ([]FederatedIdentity, error)
	// UnlinkIdentity removes one of the user's links and writes ev;
	// ErrNotFound when the user has no such link.
	UnlinkIdentity(ctx context.Context, userID, connectionID, issuer, subject string, ev AuditEvent) error
	// TouchIdentity records a login through the link and its latest email.
	TouchIdentity(ctx context.Context, fi FederatedIdentity, now time.Time) error
}

// Entitlements stores the feature catalogue and organizations' settings.
type Entitlements interface {
	UpsertFeature(ctx context.Context, f FeatureDefinition, ev AuditEvent) error
	ListFeatures(ctx context.Context) ([]FeatureDefinition, error)
	OrgFeatureSettings(ctx context.Context, orgID string) (map[string]FeatureSetting, error)
	// ApplyFeatureSettings writes settings for an organization in one
	// transaction, with a change-log row per feature (the setting before and
	// after), the template application when templateID is set, and ev.
	ApplyFeatureSettings(ctx context.Context, orgID string, writes map[string]FeatureSetting, actorID, templateID string, now time.Time, ev AuditEvent) error
	FeatureChanges(ctx context.Context, orgID string, limit int) ([]FeatureChange, error)
	UpsertTemplate(ctx context.Context, t FeatureTemplate, ev AuditEvent) error
	TemplateByID(ctx context.Context, id string) (FeatureTemplate, error)
	ListTemplates(ctx context.Context) ([]FeatureTemplate, error)
	TemplateApplications(ctx context.Context, orgID string) ([]TemplateApplication, error)
	SetPlan(ctx context.Context, orgID, plan string, ev AuditEvent) error
}

// Keys stores signing keys.
type Keys interface {
	// SigningKeys returns every key that is not past its ExpiresAt.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// InitSigningKeys stores current and next for their algorithm unless a
	// key of that algorithm exists already (several replicas may start at
	// once; exactly one set wins). It reports whether it stored them.
	InitSigningKeys(ctx context.Context, current, next SigningKey, ev AuditEvent) (bool, error)
	// RotateSigningKeys, for one algorithm: current → retired (published
	// until retiredUntil), next → current, newNext stored as next.
	//
	// With activatedBefore set, it rotates only if the current key was
	// activated before then, else ErrConflict: replicas that find the key
	// due at the same moment rotate it once (scheduled rotation).
	RotateSigningKeys(ctx context.Context, alg string, newNext SigningKey, now, retiredUntil, activatedBefore time.Time, ev AuditEvent) error
}

// Dashboards are the widget library, users' dashboard layouts and
// feature usage counters.
type Dashboards interface {
	UpsertWidget(ctx context.Context, w Widget, ev AuditEvent) error
	ListWidgets(ctx context.Context) ([]Widget, error)
	// Dashboard returns the user's layout in the organization (JSON);
	// ErrNotFound when they have none.
	Dashboard(ctx context.Context, userID, orgID string) ([]byte, error)
	SetDashboard(ctx context.Context, userID, orgID string, layout []byte, now time.Time) error
	// RecordUsage adds n to the day's counter (one upsert).
	RecordUsage(ctx context.Context, u UsageCount) error
	// UsageOf lists an organization's counters for days in [since, until).
	UsageOf(ctx context.Context, orgID string, since, until time.Time) ([]UsageCount, error)
}

// Invitations to join an organization.
type Invitations interface {
	CreateInvitation(ctx context.Context, inv Invitation, ev AuditEvent) error
	// InvitationsOf lists an organization's invitations, newest first.
	InvitationsOf(ctx context.Context, orgID string) ([]Invitation, error)
	// InvitationByTokenHash finds the invitation a link carries, in any
	// state (the caller shows why it cannot be used).
	InvitationByTokenHash(ctx context.Context, tokenHash string) (Invitation, error)
	// RevokeInvitation ends a pending invitation of the organization;
	// ErrNotFound for one that is not (another org's included).
	RevokeInvitation(ctx context.Context, orgID, id string, now time.Time, ev AuditEvent) error
	// AcceptInvitation redeems the invitation with this token hash for
	// the user, atomically: the invitation ends and the membership
	// starts, or neither. ErrNotFound for an unknown token,
	// ErrAlreadyUsed once accepted or revoked, ErrExpired after its
	// time, ErrMismatch when the user's email is not the invited one,
	// ErrConflict when the user is already a member. ev gets the
	// invitation's organization. Within the same transaction it asks
	// inviterMay whether the inviter may still grant the role, given the
	// inviter's current role in the organization ("" when none; a service
	// account's role when the inviter is one) and platform-admin flag: a
	// demoted or removed inviter's invitation fails with ErrRevoked.
	AcceptInvitation(ctx context.Context, tokenHash string, u User, now time.Time, inviterMay func(inviterRole, invitedRole string, platformAdmin bool) bool, ev AuditEvent) (Invitation, error)
}

// APIs stores resource servers.
type APIs interface {
	// UpsertAPI creates or replaces the API keyed by its identifier. An
	// identifier registered by another organization (or the platform) is
	// ErrConflict; the owner is set at creation only.
	UpsertAPI(ctx context.Context, a API, ev AuditEvent) (API, error)
	ListAPIs(ctx context.Context) ([]API, error)
	// DeleteAPI removes the API; ErrNotFound when there is none (or it
	// belongs to another organization than orgID, "" meaning the platform).
	DeleteAPI(ctx context.Context, identifier, orgID string, ev AuditEvent) error
}

// Consents stores what users granted clients.
type Consents interface {
	// ConsentOf returns the user's consent to the client; ErrNotFound
	// when there is none.
	ConsentOf(ctx context.Context, userID, clientID string) (Consent, error)
	// GrantConsent adds scopes and resources to the user's consent for
	// the client (a union) and writes ev.
	GrantConsent(ctx context.Context, c Consent, ev AuditEvent) error
	// ConsentsOf lists the user's consents, newest first.
	ConsentsOf(ctx context.Context, userID string) ([]Consent, error)
	// RevokeConsent withdraws the user's consent to the client and, in the
	// same transaction, revokes the user's grants to it (their refresh
	// tokens stop working, and so do their access tokens wherever grants
	// are checked); ErrNotFound when there was neither.
	RevokeConsent(ctx context.Context, userID, clientID string, now time.Time, ev AuditEvent) error
}

// RateLimits counts events per key in fixed windows, shared by every
// replica.
type RateLimits interface {
	// Hit counts one event for key in the window starting at windowStart
	// (kept until expiresAt) and returns the window's count, this event
	// included. N concurrent hits count exactly N.
	Hit(ctx context.Context, key string, windowStart, expiresAt time.Time) (int, error)
}

// Privacy serves data-subject requests: access (GDPR article 15) and
// erasure (article 17).
type Privacy interface {
	// UserData reads everything stored about a user in one consistent
	// snapshot; ErrNotFound for an unknown user.
	UserData(ctx context.Context, userID string) (UserData, error)
	// EraseUser deletes the user and everything tied to them (memberships,
	// sessions, grants with their refresh tokens, so access tokens stop
	// introspecting as active; MFA factors, federated identities,
	// pending logins, dashboards, usage), and pseudonymizes the audit
	// rows naming them: actor and subject become pseudonym, IP and user
	// agent are cleared, and personal details (email, phone, name,
	// login_hint) removed. The rows themselves stay. It refuses
	// (ErrLastOwner) while the user is an organization's last owner.
	// pseudonym must begin with ErasedPrefix and name no audit row yet.
	// The audit rows' hash chains stay intact (see AuditChainIntegrity).
	// ev is written after the pseudonymization.
	EraseUser(ctx context.Context, userID, pseudonym string, ev AuditEvent) error
}

// PersonalDetails are the audit detail keys that can hold personal data;
// erasure removes them.
var PersonalDetails = []string{"email", "phone", "name", "login_hint", "username", "destination", "sub", "subject"}

// Audit is the append-only security log.
type Audit interface {
	AppendAudit(ctx context.Context, ev AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// Maintenance covers health and clean-up.
type Maintenance interface {
	// Ping reports whether the backend is reachable and its schema current.
	Ping(ctx context.Context) error
	// DeleteExpired removes auth requests, sessions, refresh tokens, grants,
	// revoked-token entries and keys whose lifetime ended before now. Audit
	// rows are never deleted.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// Store is everything a backend provides. Consumers should depend on the
// smaller interfaces above.
type Store interface {
	Organizations
	Users
	Memberships
	Logins
	Clients
	AuthRequests
	Grants
	Sessions
	ActionTokens
	MFA
	Passkeys
	Federation
	Entitlements
	Keys
	Audit
	AuditChainIntegrity
	Dashboards
	Invitations
	Privacy
	APIs
	Consents
	RateLimits
	Maintenance
	Close()
}
