package app

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/login"
	"github.com/optibid/idp/login/notify"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/console"
	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/provider"
	"github.com/optibid/idp/provider/keys"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/postgres"
)

// Config is the whole configuration file. Every key is documented in
// configs/dev.yaml and configs/production.example.yaml.
type Config struct {
	Issuer     string           `yaml:"issuer"`
	HTTP       HTTPConfig       `yaml:"http"`
	Log        LogConfig        `yaml:"log"`
	Storage    StorageConfig    `yaml:"storage"`
	Keys       KeysConfig       `yaml:"keys"`
	Tokens     TokensConfig     `yaml:"tokens"`
	Sessions   SessionsConfig   `yaml:"sessions"`
	Passwords  PasswordsConfig  `yaml:"passwords"`
	Lockout    LockoutConfig    `yaml:"lockout"`
	UI         UIConfig         `yaml:"ui"`
	Accounts   AccountsConfig   `yaml:"accounts"`
	MFA        MFAConfig        `yaml:"mfa"`
	Notify     NotifyConfig     `yaml:"notify"`
	Federation FederationConfig `yaml:"federation"`
	Console    ConsoleConfig    `yaml:"console"`
	// DevMode enables development conveniences (the outbox senders and the
	// /dev/outbox page). Never in production.
	DevMode   bool      `yaml:"dev_mode"`
	Bootstrap Bootstrap `yaml:"bootstrap"`

	// envProblems are the ${VAR} references applyEnv found unset.
	envProblems manage.ValidationErrors
}

// HTTPConfig is the listeners and their shutdown.
type HTTPConfig struct {
	Addr               string   `yaml:"addr"`
	CORSAllowedOrigins []string `yaml:"cors_allowed_origins"`
	// MetricsAddr, when set, serves /metrics on this separate listener
	// only (not on the public one).
	MetricsAddr string `yaml:"metrics_addr"`
	// RequestBudget bounds the store time of one request (all its
	// statements together; hashing and upstream calls are not counted):
	// when it is spent the request answers 503 with Retry-After, so a
	// frozen or locked database costs a request at most this.
	RequestBudget time.Duration `yaml:"request_budget"`
	// DrainPeriod: after SIGTERM, /readyz answers 503 at once and the
	// server keeps serving this long, so the load balancer notices before
	// anything is refused.
	DrainPeriod     time.Duration `yaml:"drain_period"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client (CIDRs or addresses); empty believes no header.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

type AccountsConfig struct {
	Registration         string          `yaml:"registration"`
	PasswordPolicy       password.Policy `yaml:"password_policy"`
	EmailVerificationTTL time.Duration   `yaml:"email_verification_ttl"`
	PasswordResetTTL     time.Duration   `yaml:"password_reset_ttl"`
	// InvitationTTL: how long an organization invitation can be accepted.
	InvitationTTL time.Duration `yaml:"invitation_ttl"`
	// InvitationURL is the page invitation mails link to, with
	// ?token=<token>&organization=<slug>. Empty: the provider's own page,
	// <issuer>/invitations/accept, which shows the invitation, signs the
	// person in (or lets them register) and lands them in the console. An
	// application's own page calls POST /api/v1/invitations/accept with
	// the signed-in user's access token.
	InvitationURL string `yaml:"invitation_url"`
}

// invitationURL is the page invitation mails link to.
func (c *Config) invitationURL() string {
	if c.Accounts.InvitationURL != "" {
		return c.Accounts.InvitationURL
	}
	return strings.TrimSuffix(c.Issuer, "/") + "/invitations/accept"
}

type MFAConfig struct {
	IssuerName     string        `yaml:"issuer_name"`
	OTPTTL         time.Duration `yaml:"otp_ttl"`
	OTPMaxAttempts int           `yaml:"otp_max_attempts"`
	OTPSendLimit   int           `yaml:"otp_send_limit"`
}

type NotifyConfig struct {
	Email EmailConfig `yaml:"email"`
	SMS   SMSConfig   `yaml:"sms"`
	// Limits are the hourly send caps (per recipient, client address,
	// organization, SMS number and prefix) and the SMS prefix allow-list.
	Limits notify.Limits `yaml:"limits"`
}

type EmailConfig struct {
	Type     string                `yaml:"type"`
	SMTP     notify.SMTPConfig     `yaml:"smtp"`
	SendGrid notify.SendGridConfig `yaml:"sendgrid"`
}

type SMSConfig struct {
	Type   string              `yaml:"type"`
	Twilio notify.TwilioConfig `yaml:"twilio"`
}

type FederationConfig struct {
	// Timeout bounds every call to an upstream (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// AllowPrivateNetworks lets upstream traffic reach loopback and private
	// addresses (development and tests only; off, every upstream URL, and
	// every URL its discovery announces, must resolve to a public address).
	AllowPrivateNetworks bool               `yaml:"allow_private_networks"`
	Connections          []ConnectionConfig `yaml:"connections"`
}

// ConnectionConfig declares an upstream identity provider.
type ConnectionConfig struct {
	ID           string `yaml:"id"`
	Type         string `yaml:"type"` // oidc, okta, google, azuread, auth0
	Name         string `yaml:"name"`
	Organization string `yaml:"organization"` // slug; empty: offered to everyone
	ClientID     string `yaml:"client_id" json:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	Disabled     bool   `yaml:"disabled"`
	// LinkByEmail lets the connection link to an existing account by a
	// verified email on its organization's verified domain (config is the
	// operator's word, so it also grants the permission).
	LinkByEmail bool `yaml:"link_by_email"`
	// TrustUpstreamMFA: a second factor at the upstream counts here.
	TrustUpstreamMFA bool `yaml:"trust_upstream_mfa"`
	// MaxRole caps the roles the connection provisions or links (member
	// by default).
	MaxRole     string `yaml:"max_role"`
	DefaultRole string `yaml:"default_role"`
	// RoleMapping maps upstream groups to roles.
	RoleMapping map[string]string `yaml:"role_mapping"`
	// Preset settings (see configs/production.example.yaml).
	Issuer              string   `yaml:"issuer" json:"issuer,omitempty"`
	Domain              string   `yaml:"domain" json:"domain,omitempty"`
	AuthorizationServer string   `yaml:"authorization_server" json:"authorization_server,omitempty"`
	Tenant              string   `yaml:"tenant" json:"tenant,omitempty"`
	AllowedTenants      []string `yaml:"allowed_tenants" json:"allowed_tenants,omitempty"`
	HostedDomain        string   `yaml:"hosted_domain" json:"hosted_domain,omitempty"`
	BaseURL             string   `yaml:"base_url" json:"base_url,omitempty"`
	GroupsClaim         string   `yaml:"groups_claim" json:"groups_claim,omitempty"`
}

// ConsoleConfig is the web console (/console). It signs people in as the
// first-party client "optibid-console", which the provider registers at
// start.
type ConsoleConfig struct {
	// Disabled turns the console off (its client is not registered).
	Disabled bool `yaml:"disabled"`
	// RequireMFA makes every console sign-in pass a second factor, whatever
	// the organizations' policies (people without one enrol at sign-in).
	RequireMFA bool `yaml:"require_mfa"`
}

// consoleClient is the console's client, declared like a config client
// so that it passes the same rules; ok is false when the console is off.
func (c *Config) consoleClient() (BootstrapClient, bool) {
	iss := strings.TrimSuffix(c.Issuer, "/")
	return BootstrapClient{ID: console.ClientID, Name: "OptiBid console", RedirectURIs: []string{iss + "/console/callback"},
		PostLogoutRedirectURIs: []string{iss + "/console"}, GrantTypes: []string{manage.GrantAuthorizationCode, manage.GrantRefreshToken},
		FirstParty: true, RequireMFA: c.Console.RequireMFA}, !c.Console.Disabled
}

type UIConfig struct {
	ThemeDir string `yaml:"theme_dir"`
}

type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type StorageConfig struct {
	Type     string          `yaml:"type"`
	Postgres postgres.Config `yaml:"postgres"`
}

// KeysConfig is the signing keys' sealing, algorithms and schedule.
type KeysConfig struct {
	EncryptionKey  string        `yaml:"encryption_key"`
	Algorithms     []string      `yaml:"algorithms"`
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// RotationInterval rotates a current key this old, once across all
	// replicas (default 720h; -1s: only by hand).
	RotationInterval time.Duration `yaml:"rotation_interval"`
}

type TokensConfig struct {
	SigningAlg string `yaml:"signing_alg"`
	// AccessTokenSigningAlg signs access tokens (ES256 by default); an API
	// may name its own.
	AccessTokenSigningAlg string        `yaml:"access_token_signing_alg"`
	AccessTokenTTL        time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL            time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL       time.Duration `yaml:"refresh_token_ttl"`
	RefreshFamilyTTL      time.Duration `yaml:"refresh_family_ttl"`
	CodeTTL               time.Duration `yaml:"code_ttl"`
	AuthRequestTTL        time.Duration `yaml:"auth_request_ttl"`
	// MaxConcurrent caps token, introspection, revocation and userinfo
	// requests in flight per replica (past it: 503 with Retry-After);
	// ClientRate and ClientBurst are each client's token bucket per
	// replica (past it: 429 with Retry-After; client_rate -1: off).
	MaxConcurrent int     `yaml:"max_concurrent"`
	ClientRate    float64 `yaml:"client_rate"`
	ClientBurst   int     `yaml:"client_burst"`
	// RefreshGrace: a refresh token presented again this soon after its
	// rotation, while its successor is unused, is the client's retry of a
	// lost answer and is rotated again instead of revoking the family
	// (default 5s; -1s: none).
	RefreshGrace time.Duration `yaml:"refresh_grace"`
	// CodeGrace: a code presented again this soon after its redemption,
	// by the same client with the same redirect_uri and PKCE verifier,
	// when the first exchange's answer was never written (its replica
	// died, or it failed after the redemption), gets fresh tokens in place
	// of the lost ones instead of revoking them (default 5s; -1s: never).
	CodeGrace time.Duration `yaml:"code_grace"`
}

type SessionsConfig struct {
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
	CSRFKey         string        `yaml:"csrf_key"`
}

type PasswordsConfig struct {
	Argon2              password.Params `yaml:"argon2"`
	MaxConcurrentHashes int             `yaml:"max_concurrent_hashes"`
	QueueWait           time.Duration   `yaml:"queue_wait"`
}

type LockoutConfig struct {
	BackoffAfter int           `yaml:"backoff_after"`
	BackoffMax   time.Duration `yaml:"backoff_max"`
	LockAfter    int           `yaml:"lock_after"`
	LockFor      time.Duration `yaml:"lock_for"`
	MaxFailures  int           `yaml:"max_failures"`
}

// Bootstrap declares objects created or updated at every start.
type Bootstrap struct {
	Organizations []BootstrapOrg    `yaml:"organizations"`
	Users         []BootstrapUser   `yaml:"users"`
	Clients       []BootstrapClient `yaml:"clients"`
	// APIs are the platform's resource servers.
	APIs []BootstrapAPI `yaml:"apis"`
	// Features is the platform's feature catalogue; Templates are named
	// bundles of feature settings an org admin can apply.
	Features  []BootstrapFeature  `yaml:"features"`
	Templates []BootstrapTemplate `yaml:"templates"`
	// Widgets is the dashboard widget library; a widget is offered to an
	// organization when the features it requires are enabled there.
	Widgets []BootstrapWidget `yaml:"widgets"`
}

type BootstrapWidget struct {
	Key              string         `yaml:"key"`
	Name             string         `yaml:"name"`
	Description      string         `yaml:"description"`
	RequiredFeatures []string       `yaml:"required_features"`
	Config           map[string]any `yaml:"config"`
}

type BootstrapOrg struct {
	Slug string `yaml:"slug"`
	Name string `yaml:"name"`
	// Plan: free (default) | professional | enterprise; it selects the
	// features on by default.
	Plan string `yaml:"plan"`
	// MFA: off | optional (default) | required.
	MFA                  string `yaml:"mfa"`
	RequireVerifiedEmail bool   `yaml:"require_verified_email"`
	// JoinByDomain: people whose verified email is on a verified domain
	// of the organization join it as members.
	JoinByDomain bool `yaml:"join_by_domain"`
}

type BootstrapUser struct {
	Email        string `yaml:"email"`
	Password     string `yaml:"password"`
	Name         string `yaml:"name"`
	Organization string `yaml:"organization"`
	Role         string `yaml:"role"`
	// PlatformAdmin makes the account a platform operator (every
	// organization, plans, signing keys, /console/platform). Set it only
	// for the operator's first account; later ones are granted with
	// "admin user platform-admin" or by another operator. Removing the
	// line does not withdraw the role.
	PlatformAdmin bool `yaml:"platform_admin"`
}

type BootstrapFeature struct {
	Key         string `yaml:"key"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Category    string `yaml:"category"`
	// Plans whose organizations have the feature on unless they turn it off.
	Plans []string `yaml:"plans"`
	// Requires and Conflicts name other features' keys.
	Requires  []string `yaml:"requires"`
	Conflicts []string `yaml:"conflicts"`
	// Config is the default configuration (small values reach tokens).
	Config map[string]any `yaml:"config"`
}

type BootstrapTemplate struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Features: key → {enabled, config}.
	Features map[string]BootstrapSetting `yaml:"features"`
}

type BootstrapSetting struct {
	Enabled bool           `yaml:"enabled" json:"enabled"`
	Config  map[string]any `yaml:"config" json:"config,omitempty"`
}

type BootstrapClient struct {
	ID                     string   `yaml:"id"`
	Secret                 string   `yaml:"secret"`
	Name                   string   `yaml:"name"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	GrantTypes             []string `yaml:"grant_types"`
	Scopes                 []string `yaml:"scopes"`
	RequireConsent         bool     `yaml:"require_consent"`
	RequireMFA             bool     `yaml:"require_mfa"`
	RequireVerifiedEmail   bool     `yaml:"require_verified_email"`
	IDTokenSignedAlg       string   `yaml:"id_token_signed_response_alg"`
	// FirstParty: the operator's own application; only first-party
	// clients get users' tokens for the management API, and their users
	// are not asked for consent.
	FirstParty bool `yaml:"first_party"`
	// APIs this client may request although they require a grant, and
	// may exchange tokens for; DefaultAPI is used when a request names
	// none; ActsFor are the APIs whose tokens it may introspect and
	// exchange. The management API is "<issuer>/api".
	APIs       []string `yaml:"apis"`
	DefaultAPI string   `yaml:"default_api"`
	ActsFor    []string `yaml:"acts_for"`
	// AllowedOrigins may call the token, userinfo and introspection
	// endpoints from a browser (CORS).
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// BootstrapAPI declares an API (resource server).
type BootstrapAPI struct {
	Identifier     string             `yaml:"identifier"`
	Name           string             `yaml:"name"`
	Scopes         []storage.APIScope `yaml:"scopes"`
	AccessTokenTTL time.Duration      `yaml:"access_token_ttl"`
	SigningAlg     string             `yaml:"signing_alg"`
	Claims         []string           `yaml:"claims"`
	RequireGrant   bool               `yaml:"require_grant"`
}

func (a BootstrapAPI) Stored() storage.API {
	return storage.API{Identifier: a.Identifier, Name: a.Name, Scopes: a.Scopes, AccessTokenTTL: a.AccessTokenTTL,
		SigningAlg: a.SigningAlg, Claims: a.Claims, RequireGrant: a.RequireGrant}
}

// LoadConfig reads a YAML file (unknown keys are errors), applies
// environment overrides, fills defaults and validates.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: the file is empty", path)
	} else if err != nil {
		// yaml reports several problems on several lines; the contract is
		// one line.
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
		return nil, fmt.Errorf("config %s: %s", path, msg)
	}
	c.applyEnv()
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyEnv lets secrets and per-deployment values come from the
// environment: ${VAR} in the file's secret fields is expanded, and a
// variable that is unset or empty there is a broken rule naming it (an
// unset client secret must not quietly make a confidential client
// public); then the OPTIBID_* variables override, unexpanded.
func (c *Config) applyEnv() {
	devIssuer := c.DevMode && os.Getenv("OPTIBID_ISSUER") == "" && os.Getenv("OPTIBID_HTTP_ADDR") != ""
	secrets := map[string]*string{
		"storage.postgres.dsn": &c.Storage.Postgres.DSN, "keys.encryption_key": &c.Keys.EncryptionKey,
		"sessions.csrf_key": &c.Sessions.CSRFKey, "notify.email.smtp.password": &c.Notify.Email.SMTP.Password,
		"notify.email.sendgrid.api_key": &c.Notify.Email.SendGrid.APIKey, "notify.sms.twilio.auth_token": &c.Notify.SMS.Twilio.AuthToken,
	}
	for i := range c.Bootstrap.Users {
		secrets[fmt.Sprintf("bootstrap.users[%d].password", i)] = &c.Bootstrap.Users[i].Password
	}
	for i := range c.Federation.Connections {
		secrets[fmt.Sprintf("federation.connections[%d].client_secret", i)] = &c.Federation.Connections[i].ClientSecret
	}
	for i := range c.Bootstrap.Clients {
		secrets[fmt.Sprintf("bootstrap.clients[%d].secret", i)] = &c.Bootstrap.Clients[i].Secret
	}
	overriddenBy := map[string]string{"storage.postgres.dsn": "OPTIBID_DATABASE_URL", "keys.encryption_key": "OPTIBID_KEY_ENCRYPTION_KEY",
		"sessions.csrf_key": "OPTIBID_CSRF_KEY", "notify.email.smtp.password": "OPTIBID_SMTP_PASSWORD",
		"notify.email.sendgrid.api_key": "OPTIBID_SENDGRID_API_KEY", "notify.sms.twilio.auth_token": "OPTIBID_TWILIO_AUTH_TOKEN"}
	for _, key := range slices.Sorted(maps.Keys(secrets)) {
		if env := overriddenBy[key]; env != "" && os.Getenv(env) != "" {
			continue // the variable below replaces the file's value
		}
		dst := secrets[key]
		*dst = envRef.ReplaceAllStringFunc(*dst, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v := os.Getenv(name)
			if v == "" {
				c.envProblems = append(c.envProblems, &manage.ValidationError{Field: key,
					Msg: fmt.Sprintf("${%s} is unset or empty; set the variable (or remove the reference)", name)})
			}
			return v
		})
	}
	// The environment's values are taken as they are: a password that
	// contains "$" is not expanded again.
	for env, dst := range map[string]*string{
		"OPTIBID_ISSUER":             &c.Issuer,
		"OPTIBID_HTTP_ADDR":          &c.HTTP.Addr,
		"OPTIBID_METRICS_ADDR":       &c.HTTP.MetricsAddr,
		"OPTIBID_DATABASE_URL":       &c.Storage.Postgres.DSN,
		"OPTIBID_KEY_ENCRYPTION_KEY": &c.Keys.EncryptionKey,
		"OPTIBID_CSRF_KEY":           &c.Sessions.CSRFKey,
		"OPTIBID_SMTP_PASSWORD":      &c.Notify.Email.SMTP.Password,
		"OPTIBID_SENDGRID_API_KEY":   &c.Notify.Email.SendGrid.APIKey,
		"OPTIBID_TWILIO_AUTH_TOKEN":  &c.Notify.SMS.Twilio.AuthToken,
	} {
		if v := os.Getenv(env); v != "" {
			*dst = v
		}
	}
	if devIssuer {
		c.deriveDevIssuer()
	}
}

// envRef is a reference to an environment variable in a secret field:
// ${NAME} only, so that a literal "$" in a secret stays as it is.
var envRef = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// deriveDevIssuer: in development, OPTIBID_HTTP_ADDR alone moves the
// issuer (and so discovery and every link) to the same address, when the
// file's issuer is a loopback http URL; anything else is left for the
// operator to say (OPTIBID_ISSUER).
func (c *Config) deriveDevIssuer() {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "http" || !registration.IsLoopbackHost(u.Hostname()) {
		return
	}
	host, port, err := net.SplitHostPort(c.HTTP.Addr)
	if err != nil {
		return
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = u.Hostname()
	}
	c.Issuer = "http://" + net.JoinHostPort(host, port)
}

// SetDefaults fills every unset value; the components own the defaults.
func (c *Config) SetDefaults() {
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	num := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.HTTP.Addr, ":8080")
	dur(&c.HTTP.ShutdownTimeout, 30*time.Second)
	dur(&c.HTTP.DrainPeriod, 10*time.Second)
	dur(&c.HTTP.RequestBudget, 2*time.Second)
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "json")
	def(&c.Storage.Type, "memory")
	if len(c.Keys.Algorithms) == 0 {
		c.Keys.Algorithms = slices.Clone(registration.SigningAlgs)
	}
	dur(&c.Keys.ReloadInterval, 30*time.Second)
	dur(&c.Keys.RotationInterval, 30*24*time.Hour)
	// The components own their defaults; the file only fills what it
	// leaves unset from them.
	pd, ld := provider.DefaultConfig(), login.DefaultConfig()
	def(&c.Tokens.SigningAlg, pd.SigningAlg)
	def(&c.Tokens.AccessTokenSigningAlg, pd.AccessTokenSigningAlg)
	dur(&c.Tokens.AccessTokenTTL, pd.AccessTokenTTL)
	dur(&c.Tokens.IDTokenTTL, pd.IDTokenTTL)
	dur(&c.Tokens.RefreshTokenTTL, pd.RefreshTokenTTL)
	dur(&c.Tokens.RefreshFamilyTTL, pd.RefreshFamilyTTL)
	dur(&c.Tokens.CodeTTL, pd.CodeTTL)
	dur(&c.Tokens.AuthRequestTTL, pd.AuthRequestTTL)
	num(&c.Tokens.MaxConcurrent, pd.MaxConcurrent)
	num(&c.Tokens.ClientBurst, pd.ClientBurst)
	if c.Tokens.ClientRate == 0 {
		c.Tokens.ClientRate = pd.ClientRate
	}
	dur(&c.Tokens.RefreshGrace, pd.RefreshGrace)
	dur(&c.Tokens.CodeGrace, pd.CodeGrace)
	dur(&c.Sessions.IdleTimeout, ld.SessionIdleTimeout)
	dur(&c.Sessions.AbsoluteTimeout, ld.SessionAbsoluteTimeout)
	if c.Passwords.Argon2 == (password.Params{}) {
		c.Passwords.Argon2 = password.DefaultParams()
	}
	num(&c.Passwords.MaxConcurrentHashes, runtime.NumCPU())
	dur(&c.Passwords.QueueWait, 2*time.Second)
	lp := ld.Lockout
	num(&c.Lockout.BackoffAfter, lp.BackoffAfter)
	dur(&c.Lockout.BackoffMax, lp.BackoffMax)
	num(&c.Lockout.LockAfter, lp.LockAfter)
	dur(&c.Lockout.LockFor, lp.LockFor)
	num(&c.Lockout.MaxFailures, lp.MaxFailures)
	for i := range c.Bootstrap.Users {
		def(&c.Bootstrap.Users[i].Role, "member")
	}
	def(&c.Accounts.Registration, ld.Registration)
	if c.Accounts.PasswordPolicy == (password.Policy{}) {
		c.Accounts.PasswordPolicy = ld.PasswordPolicy
	}
	dur(&c.Accounts.EmailVerificationTTL, ld.EmailVerificationTTL)
	dur(&c.Accounts.PasswordResetTTL, ld.PasswordResetTTL)
	dur(&c.Accounts.InvitationTTL, manage.DefaultInvitationTTL)
	def(&c.MFA.IssuerName, ld.ProductName)
	dur(&c.MFA.OTPTTL, ld.OTPTTL)
	num(&c.MFA.OTPMaxAttempts, ld.OTPMaxAttempts)
	num(&c.MFA.OTPSendLimit, ld.OTPSendLimit)
	if c.DevMode {
		def(&c.Notify.Email.Type, "outbox")
		def(&c.Notify.SMS.Type, "outbox")
	}
	def(&c.Notify.SMS.Type, "none")
	lim, dl := &c.Notify.Limits, notify.DefaultLimits()
	num(&lim.EmailPerRecipient, dl.EmailPerRecipient)
	num(&lim.PerIP, dl.PerIP)
	num(&lim.PerOrganization, dl.PerOrganization)
	num(&lim.SMSPerDestination, dl.SMSPerDestination)
	num(&lim.SMSPerPrefix, dl.SMSPerPrefix)
	dur(&c.Federation.Timeout, 10*time.Second)
	for i := range c.Federation.Connections {
		def(&c.Federation.Connections[i].DefaultRole, "member")
	}
}

// Validate checks every value and reports every bad key (a *ConfigError).
func (c *Config) Validate() error {
	var es checks
	es.list = append(es.list, c.envProblems...)
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		es.add("issuer", "is required (or set OPTIBID_ISSUER)")
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		es.add("issuer", "%q must be an absolute URL without query or fragment", c.Issuer)
	case u.Scheme != "https" && !(u.Scheme == "http" && registration.IsLoopbackHost(u.Hostname())):
		es.add("issuer", "%q must use https (http is allowed on localhost only)", c.Issuer)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		es.add("http.addr", "%q is not host:port", c.HTTP.Addr)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.MetricsAddr); c.HTTP.MetricsAddr != "" && err != nil {
		es.add("http.metrics_addr", "%q is not host:port", c.HTTP.MetricsAddr)
	}
	if c.HTTP.MetricsAddr != "" && c.HTTP.MetricsAddr == c.HTTP.Addr && !strings.HasSuffix(c.HTTP.Addr, ":0") {
		es.add("http.metrics_addr", "must differ from http.addr")
	}
	if c.HTTP.RequestBudget < 100*time.Millisecond || c.HTTP.RequestBudget > time.Minute {
		es.add("http.request_budget", "%s must be between 100ms and 1m", c.HTTP.RequestBudget)
	}
	for i, p := range c.HTTP.TrustedProxies {
		tp, err := httpx.ParseTrustedProxies([]string{p})
		if err != nil {
			es.add(fmt.Sprintf("http.trusted_proxies[%d]", i), "%q is neither an address nor a CIDR", p)
		} else if _, broad := tp.TooBroad(); broad {
			es.add(fmt.Sprintf("http.trusted_proxies[%d]", i),
				"%q is wider than any set of proxies (public addresses: an IPv4 /16 or an IPv6 /32 at most; private ranges may be listed whole): the clients in it could choose the address they are logged and limited under", p)
		}
	}
	if c.HTTP.DrainPeriod < 0 || c.HTTP.DrainPeriod > 5*time.Minute {
		es.add("http.drain_period", "%s must be between 0 and 5m", c.HTTP.DrainPeriod)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		es.add("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		es.add("log.format", "%q must be json or text", c.Log.Format)
	}
	switch c.Storage.Type {
	case "memory":
	case "postgres":
		if c.Storage.Postgres.DSN == "" {
			es.add("storage.postgres.dsn", "is required when storage.type is postgres (or set OPTIBID_DATABASE_URL)")
		}
	default:
		es.add("storage.type", "%q must be memory or postgres", c.Storage.Type)
	}
	if _, err := seal.ParseKey(c.Keys.EncryptionKey); err != nil {
		es.add("keys.encryption_key", "%v (32 random bytes, base64; or set OPTIBID_KEY_ENCRYPTION_KEY)", err)
	}
	for i, a := range c.Keys.Algorithms {
		if !slices.Contains(keys.Supported, a) {
			es.add(fmt.Sprintf("keys.algorithms[%d]", i), "%q must be one of %v", a, keys.Supported)
		}
	}
	if !slices.Contains(c.Keys.Algorithms, c.Tokens.SigningAlg) && c.Tokens.SigningAlg != "RS256" {
		es.add("tokens.signing_alg", "%q must be listed in keys.algorithms", c.Tokens.SigningAlg)
	}
	if _, err := seal.ParseKey(c.Sessions.CSRFKey); err != nil {
		es.add("sessions.csrf_key", "%v (32 random bytes, base64; or set OPTIBID_CSRF_KEY)", err)
	}
	for key, d := range map[string]time.Duration{
		"tokens.access_token_ttl": c.Tokens.AccessTokenTTL, "tokens.id_token_ttl": c.Tokens.IDTokenTTL,
		"tokens.refresh_token_ttl": c.Tokens.RefreshTokenTTL, "tokens.refresh_family_ttl": c.Tokens.RefreshFamilyTTL,
		"tokens.auth_request_ttl": c.Tokens.AuthRequestTTL, "sessions.idle_timeout": c.Sessions.IdleTimeout,
		"sessions.absolute_timeout": c.Sessions.AbsoluteTimeout, "lockout.lock_for": c.Lockout.LockFor,
	} {
		if d < 0 {
			es.add(key, "must be positive")
		}
	}
	if c.Tokens.CodeTTL < time.Second || c.Tokens.CodeTTL > 10*time.Minute {
		es.add("tokens.code_ttl", "%s must be between 1s and 10m (RFC 6749 §4.1.2)", c.Tokens.CodeTTL)
	}
	if c.Keys.RotationInterval > 0 && c.Keys.RotationInterval < time.Hour {
		es.add("keys.rotation_interval", "%s is shorter than an hour (or -1s for rotation by hand only)", c.Keys.RotationInterval)
	}
	if c.Tokens.RefreshGrace > time.Minute {
		es.add("tokens.refresh_grace", "%s is longer than a minute", c.Tokens.RefreshGrace)
	}
	if c.Tokens.CodeGrace > time.Minute {
		es.add("tokens.code_grace", "%s is longer than a minute", c.Tokens.CodeGrace)
	}
	if c.Tokens.AccessTokenTTL > 24*time.Hour {
		es.add("tokens.access_token_ttl", "%s is longer than a day", c.Tokens.AccessTokenTTL)
	}
	for i, p := range c.Notify.Limits.SMSAllowedPrefixes {
		if !smsPrefix.MatchString(p) {
			es.add(fmt.Sprintf("notify.limits.sms_allowed_prefixes[%d]", i), "%q must be + and 1 to 4 digits", p)
		}
	}
	if c.Lockout.MaxFailures > 100 || c.Lockout.MaxFailures < c.Lockout.LockAfter || c.Lockout.LockAfter < c.Lockout.BackoffAfter {
		es.add("lockout", "need backoff_after ≤ lock_after ≤ max_failures ≤ 100 (NIST SP 800-63B §5.2.2)")
	}
	if !slices.Contains([]string{"open", "invite_only", "disabled"}, c.Accounts.Registration) {
		es.add("accounts.registration", "%q must be open, invite_only or disabled", c.Accounts.Registration)
	}
	if p := c.Accounts.PasswordPolicy; p.MinLength < 8 || p.MinLengthWithoutMFA < p.MinLength || p.MaxLength < p.MinLengthWithoutMFA || p.MaxLength > 1024 {
		es.add("accounts.password_policy", "need 8 ≤ min_length ≤ min_length_without_mfa ≤ max_length ≤ 1024")
	}
	if c.Accounts.InvitationTTL > 30*24*time.Hour {
		es.add("accounts.invitation_ttl", "%s is longer than 30 days", c.Accounts.InvitationTTL)
	}
	if u := c.Accounts.InvitationURL; u != "" {
		if err := registration.ValidateRedirectURI(u); err != nil {
			es.add("accounts.invitation_url", "%v", err)
		}
	}
	if c.Accounts.PasswordResetTTL > time.Hour {
		es.add("accounts.password_reset_ttl", "%s is longer than 1h", c.Accounts.PasswordResetTTL)
	}
	if c.MFA.OTPTTL > 10*time.Minute || c.MFA.OTPMaxAttempts > 10 {
		es.add("mfa", "otp_ttl ≤ 10m and otp_max_attempts ≤ 10 (NIST SP 800-63B §5.1.3)")
	}
	switch c.Notify.Email.Type {
	case "smtp":
		if _, err := notify.NewSMTP(c.Notify.Email.SMTP); err != nil {
			es.add("notify.email.smtp", "%v", err)
		}
	case "sendgrid":
		if _, err := notify.NewSendGrid(c.Notify.Email.SendGrid, nil); err != nil {
			es.add("notify.email.sendgrid", "%v", err)
		}
	case "outbox":
		if !c.DevMode {
			es.add("notify.email.type", "outbox needs dev_mode: true (it is not for production)")
		}
	case "":
		es.add("notify.email.type", "is required: smtp or sendgrid (outbox in dev_mode)")
	default:
		es.add("notify.email.type", "%q must be smtp, sendgrid or outbox", c.Notify.Email.Type)
	}
	switch c.Notify.SMS.Type {
	case "twilio":
		if _, err := notify.NewTwilio(c.Notify.SMS.Twilio, nil); err != nil {
			es.add("notify.sms.twilio", "%v", err)
		}
	case "outbox":
		if !c.DevMode {
			es.add("notify.sms.type", "outbox needs dev_mode: true (it is not for production)")
		}
	case "none":
	default:
		es.add("notify.sms.type", "%q must be twilio, none or outbox", c.Notify.SMS.Type)
	}
	c.validateConnections(&es)
	if p := c.Passwords.Argon2; p.MemoryKiB < 1024 || p.Iterations < 1 || p.Parallelism < 1 {
		es.add("passwords.argon2", "memory_kib ≥ 1024, iterations ≥ 1 and parallelism ≥ 1 are required")
	}
	es.collect(c.Bootstrap.Check(c.Issuer))
	return es.err()
}

// Check applies the management rules to everything the bootstrap
// declares (the same rules the API and the CLI apply) and reports every
// broken one, named by its config key.
func (b Bootstrap) Check(issuer string) error {
	var es checks
	slugs := map[string]bool{}
	for i, o := range b.Organizations {
		key := fmt.Sprintf("bootstrap.organizations[%d]", i)
		spec := manage.OrgSpec{Slug: o.Slug, Name: o.Name, Plan: o.Plan, MFA: o.MFA}
		es.collect(manage.Prefix(key, spec.Check()))
		es.collect(manage.Prefix(key, manage.CheckPasskeyPolicy(o.MFA, !login.PasskeysAvailable(issuer))))
		slugs[o.Slug] = true
	}
	for i, u := range b.Users {
		key := fmt.Sprintf("bootstrap.users[%d]", i)
		if !strings.Contains(u.Email, "@") {
			es.addf("%s.email: %q is not an email address", key, u.Email)
		}
		if len([]rune(u.Password)) < 8 {
			es.addf("%s.password: must be at least 8 characters", key)
		}
		if u.Organization != "" && !slugs[u.Organization] {
			es.addf("%s.organization: %q is not declared in bootstrap.organizations", key, u.Organization)
		}
		if !slices.Contains(roles.All, u.Role) && (u.Organization != "" || u.Role != "") {
			// A role is the user's in the organization; a user of none
			// (a platform operator) needs none.
			es.addf("%s.role: %q must be one of %v", key, u.Role, roles.All)
		}
	}
	b.validateFeatures(&es)
	declared := make([]storage.API, 0, len(b.APIs))
	for i, a := range b.APIs {
		key := fmt.Sprintf("bootstrap.apis[%d]", i)
		if err := registration.ValidateAPI(a.Stored(), issuer+provider.ManagementAPIPath); err != nil {
			es.addf("%s.%v", key, err)
		}
		if a.Identifier == issuer+provider.ManagementAPIPath ||
			slices.ContainsFunc(declared, func(o storage.API) bool { return o.Identifier == a.Identifier }) {
			es.addf("%s.identifier: %q is declared twice", key, a.Identifier)
		}
		if err := registration.ScopeClash(a.Stored(), declared); err != nil {
			es.addf("%s.%v", key, err)
		}
		declared = append(declared, a.Stored())
	}
	// The operator registers the file's clients, under the same rules.
	reg := manage.RegistrarFor(declared, "", "", issuer+provider.ManagementAPIPath)
	ids := map[string]bool{}
	for i, c := range b.Clients {
		key := fmt.Sprintf("bootstrap.clients[%d]", i)
		if c.ID == "" || ids[c.ID] {
			es.addf("%s.id: must be set and unique", key)
		}
		ids[c.ID] = true
		if c.ID == console.ClientID {
			es.addf("%s.id: %s is reserved for the console's own client", key, c.ID)
		}
		if c.Secret != "" && len(c.Secret) < 32 {
			es.addf("%s.secret: must be at least 32 characters (or absent for a public client)", key)
		}
		spec := c.Spec()
		es.collect(manage.Prefix(key, spec.Check(reg)))
	}
	return es.err()
}

// Spec is the declared client in the management layer's terms (public
// when it has no secret).
func (c BootstrapClient) Spec() manage.ClientSpec {
	return manage.ClientSpec{ID: c.ID, Name: c.Name, Public: c.Secret == "", RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes, Scopes: c.Scopes,
		RequireConsent: c.RequireConsent, RequireMFA: c.RequireMFA, RequireVerifiedEmail: c.RequireVerifiedEmail,
		IDTokenSignedAlg: c.IDTokenSignedAlg, FirstParty: c.FirstParty, APIs: c.APIs, DefaultAPI: c.DefaultAPI,
		ActsFor: c.ActsFor, AllowedOrigins: c.AllowedOrigins}
}

func (b Bootstrap) validateFeatures(es *checks) {
	keys := map[string]bool{}
	for i, f := range b.Features {
		if !validFeatureKey(f.Key) || keys[f.Key] {
			es.addf("bootstrap.features[%d].key: %q must be unique, lower-case letters, digits, '_', '-', '.' or ':'", i, f.Key)
		}
		keys[f.Key] = true
	}
	for i, f := range b.Features {
		key := fmt.Sprintf("bootstrap.features[%d]", i)
		if f.Name == "" {
			es.addf("%s.name: is required", key)
		}
		for _, p := range f.Plans {
			if !slices.Contains(entitlements.Plans, p) {
				es.addf("%s.plans: %q must be one of %v", key, p, entitlements.Plans)
			}
		}
		for _, r := range slices.Concat(f.Requires, f.Conflicts) {
			if !keys[r] || r == f.Key {
				es.addf("%s: %q in requires/conflicts is not another declared feature", key, r)
			}
		}
	}
	widgets := map[string]bool{}
	for i, w := range b.Widgets {
		key := fmt.Sprintf("bootstrap.widgets[%d]", i)
		if !validFeatureKey(w.Key) || widgets[w.Key] || w.Name == "" {
			es.addf("%s: key (unique, like a feature key) and name are required", key)
		}
		widgets[w.Key] = true
		for _, f := range w.RequiredFeatures {
			if !keys[f] {
				es.addf("%s.required_features: %q is not a declared feature", key, f)
			}
		}
	}
	ids := map[string]bool{}
	for i, t := range b.Templates {
		key := fmt.Sprintf("bootstrap.templates[%d]", i)
		if !manage.ValidSlug(t.ID) || ids[t.ID] {
			es.addf("%s.id: %q must be a unique slug", key, t.ID)
		}
		ids[t.ID] = true
		if t.Name == "" || len(t.Features) == 0 {
			es.addf("%s: name and features are required", key)
		}
		for k := range t.Features {
			if !keys[k] {
				es.addf("%s.features: %q is not a declared feature", key, k)
			}
		}
	}
}

func validFeatureKey(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.:", r)) {
			return false
		}
	}
	return true
}

// smsPrefix is an E.164 prefix of the SMS allow-list.
var smsPrefix = regexp.MustCompile(`^\+[0-9]{1,4}$`)

// checks collects every broken rule of a config.
type checks struct{ list manage.ValidationErrors }

func (c *checks) add(key, format string, a ...any) {
	c.list = append(c.list, &manage.ValidationError{Field: key, Msg: fmt.Sprintf(format, a...)})
}

// addf takes "key: message" in one format.
func (c *checks) addf(format string, a ...any) {
	key, msg, _ := strings.Cut(fmt.Sprintf(format, a...), ": ")
	c.list = append(c.list, &manage.ValidationError{Field: key, Msg: msg})
}

// collect adds err's broken rules (any other error as one rule without
// a key).
func (c *checks) collect(err error) {
	if err != nil && !c.list.Collect(err) {
		c.list = append(c.list, &manage.ValidationError{Msg: err.Error()})
	}
}

func (c *checks) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return &ConfigError{c.list}
}

// ConfigError is every broken rule of a configuration, one per line,
// each naming its key.
type ConfigError struct{ Rules manage.ValidationErrors }

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Rules))
	for i, r := range e.Rules {
		lines[i] = "config: " + r.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the rules.
func (e *ConfigError) Unwrap() error { return e.Rules }
