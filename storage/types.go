package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Organization is a tenant: an enterprise signed up to the platform.
type Organization struct {
	ID   string
	Slug string
	Name string
	// MFAPolicy: "off", "optional" (default), "required" (members must
	// enroll a second factor at their next login) or "passkey" (members
	// must sign in with a passkey).
	MFAPolicy string
	// RequireVerifiedEmail: members must verify their email address before
	// any client gets a code for them.
	RequireVerifiedEmail bool
	// Plan: free, professional or enterprise; decides default features.
	Plan string
	// JoinByDomain: a person whose verified email is on one of the
	// organization's verified domains joins it as a member (off unless the
	// organization opts in).
	JoinByDomain bool
	// Settings is a free-form JSON object for the platform's apps.
	Settings []byte
	// Branding is how the sign-in screens look for the organization.
	Branding  Branding
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Branding is an organization's look on the sign-in screens (manage
// checks it: a data-URL logo, a colour with enough contrast, an https or
// mailto support link). The zero Branding is the product's own look.
type Branding struct {
	DisplayName string `json:"display_name,omitempty"`
	Logo        string `json:"logo,omitempty"`  // data:image/...;base64,...
	Color       string `json:"color,omitempty"` // #rrggbb
	SupportURL  string `json:"support_url,omitempty"`
}

// IsZero reports whether no branding is set.
func (b Branding) IsZero() bool { return b == Branding{} }

// User is a person who can sign in. Email is stored lower-cased and is unique.
type User struct {
	ID            string
	Email         string
	Name          string
	PasswordHash  string // PHC string (argon2id) or a legacy bcrypt hash
	EmailVerified bool
	// Phone is E.164; SMS codes go only to a verified phone.
	Phone         string
	PhoneVerified bool
	Disabled      bool
	// FailedLogins counts consecutive failed password attempts; a success
	// resets it. LockedUntil is zero when the account is not locked.
	FailedLogins int
	LockedUntil  time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// PlatformAdmin acts across organizations (granted with the CLI only).
	PlatformAdmin bool
}

// Locked reports whether the account refuses logins at now.
func (u User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// Membership ties a user to an organization with a role.
type Membership struct {
	UserID    string
	OrgID     string
	Role      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Client is a registered relying party.
type Client struct {
	ID   string
	Name string
	// OrgID is the organization that registered it through the API; ""
	// for platform clients (config, CLI). It is set at creation only.
	OrgID string
	// SecretHash is the hex SHA-256 of the client secret; empty for public
	// clients, which must use PKCE.
	SecretHash             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scopes                 []string // extra scopes beyond the standard OIDC ones
	RequireConsent         bool
	// RequireMFA: every login for this client needs a second factor.
	RequireMFA bool
	// RequireVerifiedEmail: users must have verified their email address.
	RequireVerifiedEmail bool
	// IDTokenSignedResponseAlg overrides the provider's default signing
	// algorithm for this client ("RS256" or "ES256"); empty means default.
	IDTokenSignedResponseAlg string
	// FirstParty marks the operator's own applications (declared in config
	// or with the CLI, never through the management API): only they may
	// obtain a user's token for the management API, and their users are
	// not asked for consent. Every other client's first grant of a scope
	// set needs the user's consent.
	FirstParty bool
	// APIs lists the identifiers of the APIs that require an explicit
	// grant (API.RequireGrant) which this client may request tokens for,
	// and the APIs it may exchange a token for (token exchange).
	APIs []string
	// DefaultAPI is the identifier of the API a request that names none
	// (no resource, no API scope) is for; "" means such tokens are for
	// userinfo only.
	DefaultAPI string
	// ActsFor lists the identifiers of the APIs this client authenticates
	// as: it may introspect tokens issued for them and exchange them.
	ActsFor []string
	// ServiceRole marks an organization's service account: a
	// client_credentials client acting in OrgID with this role.
	ServiceRole string
	// AllowedOrigins are the browser origins (scheme://host[:port]) that
	// may call the token, userinfo and revocation endpoints for this
	// client (CORS), for single-page applications.
	AllowedOrigins []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ServiceAccount reports whether the client is an organization's service
// account.
func (c Client) ServiceAccount() bool { return c.ServiceRole != "" && c.OrgID != "" }

// API is a resource server: an OptiBid API (or an organization's own)
// that accepts our access tokens. Identifier is the token's `aud` and the
// RFC 8707 `resource` value that selects it.
type API struct {
	Identifier string
	Name       string
	// OrgID is the organization that registered it; "" for platform APIs
	// (config, CLI, platform operators).
	OrgID  string
	Scopes []APIScope
	// AccessTokenTTL overrides the provider's access-token lifetime for
	// tokens of this API (0: the default).
	AccessTokenTTL time.Duration
	// SigningAlg signs its access tokens: "ES256" or "RS256" ("" is the
	// provider's access-token default).
	SigningAlg string
	// Claims are the organization claims its tokens carry when the user
	// granted them: any of "org", "permissions", "entitlements".
	Claims []string
	// RequireGrant: only clients listing it in Client.APIs may request
	// tokens for it.
	RequireGrant bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// APIScope is a permission an API defines, described for consent.
type APIScope struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Consent is what a user granted a client: the union of every scope
// (and API) they agreed to.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	Resources []string
	UpdatedAt time.Time
}

// CodeBinding is what a code redemption must match: the client it was
// issued to, the redirect URI of the authorization request and, for a
// PKCE request, the S256 hash of the verifier ("" when none was sent).
type CodeBinding struct {
	ClientID      string
	RedirectURI   string
	CodeChallenge string
}

// Public reports whether the client has no secret.
func (c Client) Public() bool { return c.SecretHash == "" }

// AuthRequest is one /authorize transaction, from the request to the code
// redemption. It is bound to the browser that started it by BrowserHash.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *int64 // seconds; nil when absent
	LoginHint           string
	HintSubject         string // subject of a verified id_token_hint
	ACRValues           []string
	UILocales           []string
	BrowserHash         string
	// Set when the user has authenticated (Done).
	UserID    string
	AuthTime  time.Time
	AMR       []string
	SessionID string // hash of the SSO session that completed it
	Done      bool
	// A login in progress: the password was right, a second factor is
	// still due. Only the browser that started the request can continue it.
	PendingUserID string
	PendingAMR    []string
	PendingAt     time.Time
	// Connection is the upstream the client asked for (the connection
	// authorization parameter), or "".
	Connection string
	// OrgRequest is the organization slug the client asked for
	// (organization parameter or org:<slug> scope); OrgID the one chosen
	// at login ("" for none).
	OrgRequest string
	OrgID      string
	// Resources are the identifiers of the APIs the tokens are for
	// (RFC 8707 resource parameters and API scopes), checked at /authorize.
	Resources []string
	// Code state: hash of the issued code, its expiry, and once redeemed the
	// grant created from it (so a replay can revoke that grant).
	CodeHash      string
	CodeExpiresAt time.Time
	RedeemedAt    time.Time
	GrantID       string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Grant is the family of tokens issued from one code redemption: every
// refresh token rotated from it and every access token minted from them.
// Revoking the grant kills the whole family.
type Grant struct {
	ID       string
	ClientID string
	UserID   string
	OrgID    string // the organization of the login, "" for none
	Scopes   []string
	// Resources are the APIs the grant's access tokens may be for.
	Resources []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the family: no refresh token of it
	// lives past this time, however often it is rotated.
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Active reports whether the grant may still be used at now.
func (g Grant) Active(now time.Time) bool {
	return g.RevokedAt.IsZero() && now.Before(g.ExpiresAt)
}

// RefreshToken is one member of a grant's rotation chain. Only the hash of
// the token is stored.
type RefreshToken struct {
	Hash      string
	GrantID   string
	ClientID  string
	UserID    string
	Scopes    []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // set when rotated; presenting it again is reuse
	// Successor is the hash of the token that replaced it (rotated).
	Successor string
}

// Session is a browser's single-sign-on session.
type Session struct {
	IDHash     string
	UserID     string
	AuthTime   time.Time
	AMR        []string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute timeout
	RevokedAt  time.Time
	IP         string
	UserAgent  string
}

// OrganizationDomain is an email domain an organization has proven it
// owns; users registering with it join the organization.
type OrganizationDomain struct {
	OrgID      string
	Domain     string
	VerifiedAt time.Time
}

// Action-token purposes.
const (
	PurposeVerifyEmail   = "verify_email"
	PurposeResetPassword = "reset_password"
	PurposeChangeEmail   = "change_email"
)

// ActionToken is a single-use, expiring token sent by email (verification
// and password-reset links). Only its hash is stored.
type ActionToken struct {
	Hash    string
	Purpose string
	UserID  string
	// Data is what the link carries besides its user (the new address of
	// an email change).
	Data      string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// TOTP is a user's authenticator-app secret, sealed at rest. LastStep is
// the last time step accepted, so a code is never accepted twice.
type TOTP struct {
	UserID       string
	SecretSealed []byte
	ConfirmedAt  time.Time // zero while enrollment is pending
	LastStep     int64
	CreatedAt    time.Time
}

// OTPChallenge is a one-time code sent by SMS or email for one login
// transaction (auth request). Only the code's hash is stored.
type OTPChallenge struct {
	ID            string
	AuthRequestID string
	UserID        string
	Channel       string // "sms" or "email"
	Destination   string
	CodeHash      string
	Attempts      int
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time
}

// Connection is an upstream identity provider. OrgID empty: offered to
// everyone; else it belongs to that organization, whose verified domains
// route to it and whose members it provisions.
type Connection struct {
	ID           string
	Type         string // oidc, okta, google, azuread, auth0
	Name         string // the button label
	OrgID        string
	Config       []byte // the preset's JSON configuration (no secrets)
	SecretSealed []byte
	Enabled      bool
	// LinkByEmail allows linking to an existing local account by email,
	// only when the upstream asserts email_verified and the email's domain
	// is a verified domain of the connection's organization.
	LinkByEmail bool
	// AllowEmailLinking is the platform operator's permission for
	// LinkByEmail (an organization cannot give it to its own IdP).
	AllowEmailLinking bool
	// TrustUpstreamMFA: the operator believes the upstream's amr (a second
	// factor there counts as one here); otherwise local MFA rules apply.
	TrustUpstreamMFA bool
	// MaxRole is the role ceiling of users this connection provisions or
	// links (role mapping never grants more).
	MaxRole     string
	DefaultRole string
	RoleMapping map[string]string // upstream group → role
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// FederatedIdentity links an upstream identity to a local user, forever
// keyed by (connection, issuer, subject).
type FederatedIdentity struct {
	ConnectionID string
	Issuer       string
	Subject      string
	UserID       string
	Email        string
	// LinkedByEmail: the link was made to an existing account on the
	// upstream's email assertion; a password reset removes it.
	LinkedByEmail bool
	CreatedAt     time.Time
	LastLoginAt   time.Time
}

// FederationState is one trip upstream: single use, bound to the auth
// request and to the browser that started it.
type FederationState struct {
	StateHash     string
	ConnectionID  string
	AuthRequestID string
	Nonce         string
	CodeVerifier  string
	BrowserHash   string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time
}

// FeatureDefinition is one feature of the catalogue (see
// provider/entitlements for the rules). Config is JSON.
type FeatureDefinition struct {
	Key, Name, Description, Category string
	Plans, Requires, Conflicts       []string
	Config                           []byte
	CreatedAt, UpdatedAt             time.Time
}

// FeatureSetting is an organization's override of one feature. Config is
// JSON.
type FeatureSetting struct {
	Enabled   bool
	Config    []byte
	ChangedBy string
	UpdatedAt time.Time
}

// FeatureChange is one row of the change log: a feature's setting before
// and after (nil: none).
type FeatureChange struct {
	ID, OrgID, FeatureKey, ActorID, TemplateID string
	Before, After                              *FeatureSetting
	ChangedAt                                  time.Time
}

// FeatureTemplate is a named bundle of settings. Features is JSON:
// key → {"enabled": bool, "config": {...}}.
type FeatureTemplate struct {
	ID, Name, Description string
	Features              []byte
	CreatedAt, UpdatedAt  time.Time
}

// TemplateApplication records that a template was applied to an org.
type TemplateApplication struct {
	ID, OrgID, TemplateID, AppliedBy string
	AppliedAt                        time.Time
}

// SigningKeyState is where a key is in its life cycle.
type SigningKeyState string

// Key life cycle: next (published, not signing) → current (signing) →
// retired (published until every token it signed has expired).
const (
	KeyNext    SigningKeyState = "next"
	KeyCurrent SigningKeyState = "current"
	KeyRetired SigningKeyState = "retired"
)

// SigningKey is a token-signing key pair. The private key is sealed
// (AES-GCM) before it reaches storage.
type SigningKey struct {
	ID               string // kid
	Algorithm        string // RS256, ES256
	State            SigningKeyState
	PrivateKeySealed []byte // sealed PKCS#8 DER
	CreatedAt        time.Time
	ActivatedAt      time.Time
	RetiredAt        time.Time
	// ExpiresAt: when a retired key leaves the JWKS. Zero while not retired.
	ExpiresAt time.Time
}

// AuditEvent is one append-only row of the audit log. It must never contain
// a secret (password, token, code, session ID).
type AuditEvent struct {
	ID        string
	Time      time.Time
	Type      string
	ActorID   string // user or client that acted; empty for anonymous
	SubjectID string // user the event is about, when different
	OrgID     string
	ClientID  string
	IP        string
	UserAgent string
	RequestID string
	Details   map[string]string
}

// AuditFilter selects audit rows; zero fields match everything.
type AuditFilter struct {
	Type      string
	ActorID   string
	SubjectID string
	// UserID matches rows naming the user as actor or subject.
	UserID string
	OrgID  string
	Since  time.Time
	// Before pages backwards: only rows older than this time, or, with
	// BeforeID, rows of this very time whose ID sorts after BeforeID (rows
	// come newest first, then by ID, so a page can end inside one instant
	// and the next continue there without skipping or repeating a row).
	Before   time.Time
	BeforeID string
	Limit    int
}

// OrgQuery pages through organizations ordered by slug.
type OrgQuery struct {
	Search string // case-insensitive substring of slug or name; "" for all
	After  string // slug cursor: only slugs greater than this
	Limit  int    // at most this many (<=0 or >1000: 100)
}

// UserQuery pages through users ordered by email.
type UserQuery struct {
	Search string // case-insensitive substring of email or name
	After  string // email cursor
	Limit  int    // as OrgQuery
}

// PageSize is the number of rows a page of limit holds: limit, or 100
// when it is <= 0 or above 1000. Every paged list applies it, so a caller
// knows a page is full (and asks for the next) when it holds PageSize rows.
func PageSize(limit int) int {
	if limit <= 0 || limit > 1000 {
		return 100
	}
	return limit
}

// HashSecret returns the hex SHA-256 of a high-entropy secret. It is the one
// way every backend and caller derives the stored form of codes, refresh
// tokens, session IDs and client secrets; a slow hash would buy nothing for
// 256-bit random values and would cost the token hot path.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Authentication context classes we assert in ID tokens (acr), derived
// from the methods used (amr, RFC 8176).
const (
	ACRPassword = "urn:optibid:acr:pwd"
	ACRMFA      = "urn:optibid:acr:mfa"
	// ACRPhishingResistant: a passkey in a two-factor sign-in (amr hwk or
	// swk with mfa: a passkey with user verification, or a passkey and
	// another factor): more than ACRMFA, since the key is bound to our
	// origin and a phishing site cannot relay its answer.
	ACRPhishingResistant = "urn:optibid:acr:phr"
)

// ACRFor returns the acr that the methods amr achieve ("" for none).
func ACRFor(amr []string) string {
	mfa, key := false, false
	for _, m := range amr {
		switch m {
		case "mfa":
			mfa = true
		case "hwk", "swk":
			key = true
		}
	}
	switch {
	case mfa && key:
		return ACRPhishingResistant
	case mfa:
		return ACRMFA
	case len(amr) > 0:
		return ACRPassword
	}
	return ""
}

// UserData is everything stored about one user, for a data-subject access
// request (GDPR article 15). Secrets are here as stored (hashes, sealed
// TOTP secret); the export leaves them out.
type UserData struct {
	User        User
	Memberships []Membership
	// Sessions and Grants include revoked and expired ones not yet
	// cleaned up.
	Sessions    []Session
	Grants      []Grant
	Identities  []FederatedIdentity
	TOTP        *TOTP
	BackupCodes int // unused
	// Dashboards are the user's dashboard layouts, by organization ID.
	Dashboards map[string][]byte
	// Usage are the user's feature usage counters.
	Usage []UsageCount
	// Audit holds the rows naming the user as actor or subject, oldest
	// first.
	Audit []AuditEvent
}

// Invitation asks someone, by email, to join an organization with a role.
// Only the hash of its token is stored. It is single use: accepting,
// revoking or expiring ends it.
type Invitation struct {
	ID, OrgID, Email, Role, TokenHash, InvitedBy string
	// Language is the tag of the language its mails are written in ("en",
	// "de"); invitations from before languages are "en".
	Language              string
	CreatedAt, ExpiresAt  time.Time
	AcceptedAt, RevokedAt time.Time
	AcceptedBy            string
}

// Pending reports whether the invitation can still be accepted at now.
func (i Invitation) Pending(now time.Time) bool {
	return i.AcceptedAt.IsZero() && i.RevokedAt.IsZero() && now.Before(i.ExpiresAt)
}

// Acceptable applies the rules every backend checks before u accepts the
// invitation at now (see Invitations.AcceptInvitation).
func (i Invitation) Acceptable(u User, now time.Time) error {
	switch {
	case !i.AcceptedAt.IsZero() || !i.RevokedAt.IsZero():
		return ErrAlreadyUsed
	case !now.Before(i.ExpiresAt):
		return ErrExpired
	case !strings.EqualFold(i.Email, u.Email):
		return ErrMismatch
	}
	return nil
}

// Widget is a dashboard widget of the platform's library; it is offered
// to an organization when every feature it requires is enabled there.
type Widget struct {
	Key, Name, Description string
	RequiredFeatures       []string
	Config                 []byte // JSON defaults
}

// UsageCount is how often a user of an organization used a feature on a
// day (UTC). UserID is "" for usage not tied to a user.
type UsageCount struct {
	OrgID, UserID, FeatureKey string
	Day                       time.Time
	Count                     int64
}

// Passkey is a WebAuthn credential (a passkey or a security key) of a
// user. ID is the credential ID the authenticator made, unique across
// users; Name is the user's label for it.
type Passkey struct {
	ID        []byte
	UserID    string
	Name      string
	PublicKey []byte // COSE_Key
	// AttestationType is the type the authenticator conveyed ("none" for
	// passkeys we do not ask attestation of).
	AttestationType string
	AAGUID          []byte
	// SignCount is the authenticator's signature counter at the last use;
	// synced passkeys keep it at 0.
	SignCount uint32
	// BackupEligible (never changes) and BackupState: the key may be, and
	// is, synced to other devices (a software key rather than one bound to
	// a hardware authenticator).
	BackupEligible, BackupState bool
	Transports                  []string
	CreatedAt                   time.Time
	LastUsedAt                  time.Time // zero before the first sign-in
}

// Passkey ceremony purposes (PasskeyChallenge.Purpose).
const (
	PasskeyRegistration = "register"
	PasskeySignIn       = "signin" // discoverable: no user is known yet
	PasskeySecondFactor = "mfa"    // after a password, for a known user
)

// PasskeyChallenge is the state of one WebAuthn ceremony between the
// options we hand the browser and the credential it sends back: single
// use, short-lived and bound to the browser that asked for it. Only the
// hash of its ID is stored.
type PasskeyChallenge struct {
	IDHash  string
	Purpose string
	// UserID is the user registering or owing the second factor ("" for a
	// discoverable sign-in); AuthRequestID the sign-in it belongs to ("" on
	// the account page).
	UserID, AuthRequestID string
	BrowserHash           string
	// Session is the WebAuthn library's session data (challenge, RP ID,
	// allowed credentials, user verification), opaque to storage.
	Session   []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}
