package provider

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/provider/claims"
	"github.com/optibid/idp/provider/keys"
	"github.com/optibid/idp/storage"
)

// Config configures the provider. Durations are validated by cmd.
type Config struct {
	Issuer string
	// AccessTokenTTL: lifetime of JWT access tokens (default 15m).
	AccessTokenTTL time.Duration
	// IDTokenTTL: lifetime of ID tokens (default 1h).
	IDTokenTTL time.Duration
	// RefreshTokenTTL: lifetime of each refresh token; every rotation
	// starts a new one, capped by RefreshFamilyTTL (default 30 days).
	RefreshTokenTTL time.Duration
	// RefreshFamilyTTL: absolute lifetime of a grant and every refresh token
	// rotated from it (default 90 days).
	RefreshFamilyTTL time.Duration
	// CodeTTL: lifetime of an authorization code (default 60s).
	CodeTTL time.Duration
	// AuthRequestTTL: how long a user has to finish logging in (default 30m).
	AuthRequestTTL time.Duration
	// SigningAlg: default signing algorithm for ID tokens, RS256 (default)
	// or ES256; clients may override it (id_token_signed_response_alg).
	SigningAlg string
	// AccessTokenSigningAlg: default signing algorithm for access tokens,
	// ES256 (default, about ten times cheaper to sign) or RS256; APIs may
	// override it.
	AccessTokenSigningAlg string
	// CORSAllowedOrigins: origins allowed to call the token, userinfo,
	// introspection, revocation, JWKS and discovery endpoints from a
	// browser. Empty allows none. /authorize never sends CORS headers.
	CORSAllowedOrigins []string
	// UILocales are the languages the sign-in screens speak (discovery's
	// ui_locales_supported).
	UILocales []language.Tag
	// LoginPath is where /authorize sends the browser (default /login).
	LoginPath string
	// MaxConcurrent caps the client-authenticated requests (token,
	// introspection, revocation, userinfo) in flight on this replica; one
	// past it waits at most AdmissionWait for a slot, then gets 503 with
	// Retry-After.
	MaxConcurrent int
	AdmissionWait time.Duration
	// ClientRate and ClientBurst are each client's token bucket on this
	// replica (requests per second, burst); past it, 429 with Retry-After.
	// A negative ClientRate turns the per-client limit off.
	ClientRate  float64
	ClientBurst int
	// RefreshGrace is how long after a rotation the same refresh token is
	// still taken as the client's retry (its answer was lost) rather than
	// reuse, while the successor is unused. Negative: no grace.
	RefreshGrace time.Duration
	// CodeGrace is how long after a code's redemption its exchange may be
	// retried, when that exchange's answer was never written (its replica
	// died, or it failed after the redemption): storage.LostAnswer.
	// Negative: never.
	CodeGrace time.Duration
}

// DefaultConfig holds the defaults of every tunable (the config file's
// defaults come from here): 15-minute access tokens (ES256), 1-hour ID
// tokens (RS256, which OIDC requires), refresh tokens for 30 days in a
// family of at most 90, 1-minute codes, 30 minutes to finish a sign-in.
func DefaultConfig() Config {
	return Config{AccessTokenTTL: 15 * time.Minute, IDTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour,
		RefreshFamilyTTL: 90 * 24 * time.Hour, CodeTTL: time.Minute, AuthRequestTTL: 30 * time.Minute,
		SigningAlg: "RS256", AccessTokenSigningAlg: "ES256", LoginPath: "/login",
		MaxConcurrent: 256, AdmissionWait: 100 * time.Millisecond, ClientRate: 500, ClientBurst: 1000, RefreshGrace: 5 * time.Second,
		CodeGrace: 5 * time.Second}
}

// setDefaults fills what is unset from DefaultConfig.
func (c *Config) setDefaults() {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *time.Duration }{{&c.AccessTokenTTL, &d.AccessTokenTTL}, {&c.IDTokenTTL, &d.IDTokenTTL},
		{&c.RefreshTokenTTL, &d.RefreshTokenTTL}, {&c.RefreshFamilyTTL, &d.RefreshFamilyTTL}, {&c.CodeTTL, &d.CodeTTL},
		{&c.AuthRequestTTL, &d.AuthRequestTTL}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *string }{{&c.SigningAlg, &d.SigningAlg}, {&c.AccessTokenSigningAlg, &d.AccessTokenSigningAlg},
		{&c.LoginPath, &d.LoginPath}} {
		if *f.v == "" {
			*f.v = *f.def
		}
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = d.MaxConcurrent
	}
	if c.AdmissionWait <= 0 {
		c.AdmissionWait = d.AdmissionWait
	}
	if c.ClientRate == 0 {
		c.ClientRate = d.ClientRate
	}
	if c.ClientBurst <= 0 {
		c.ClientBurst = d.ClientBurst
	}
	if c.RefreshGrace == 0 {
		c.RefreshGrace = d.RefreshGrace
	}
	if c.CodeGrace == 0 {
		c.CodeGrace = d.CodeGrace
	}
}

// Store is the storage the provider uses: exactly the methods it calls,
// declared here where they are used.
type Store interface {
	AccessTokenState(ctx context.Context, jti, grantID string) (storage.AccessTokenState, error)
	AppendAudit(ctx context.Context, ev storage.AuditEvent) error
	AuthRequestByID(ctx context.Context, id string) (storage.AuthRequest, error)
	ClientByID(ctx context.Context, id string) (storage.Client, error)
	CreateAuthRequest(ctx context.Context, ar storage.AuthRequest) error
	DomainsOf(ctx context.Context, orgID string) ([]storage.OrganizationDomain, error)
	IssueRefreshToken(ctx context.Context, rt storage.RefreshToken, now time.Time, ev storage.AuditEvent) error
	ListAPIs(ctx context.Context) ([]storage.API, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	ListFeatures(ctx context.Context) ([]storage.FeatureDefinition, error)
	OrganizationByID(ctx context.Context, id string) (storage.Organization, error)
	Ping(ctx context.Context) error
	RedeemCode(ctx context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error)
	ClaimCode(ctx context.Context, codeHash string) (release func(), ok bool, err error)
	RedeemClaimedCode(ctx context.Context, codeHash string, b storage.CodeBinding, grantID string, grantExpiresAt, now time.Time, grace time.Duration, ev, replayEv storage.AuditEvent) (storage.AuthRequest, error)
	CodeDelivered(ctx context.Context, codeHash, grantID string, at time.Time) error
	RefreshTokenByHash(ctx context.Context, hash string) (storage.RefreshTokenState, error)
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time, ev storage.AuditEvent) error
	RevokeGrant(ctx context.Context, id string, now time.Time, ev storage.AuditEvent) error
	RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time, grace time.Duration, ev, reuseEv storage.AuditEvent) error
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	SessionByHash(ctx context.Context, hash string) (storage.Session, error)
	UserByID(ctx context.Context, id string) (storage.User, error)
}

// ErrorPage renders a friendly HTML error page (supplied by package login,
// so that every page a person sees comes from one set of templates).
type ErrorPage func(w http.ResponseWriter, r *http.Request, status int, message string, cause ...any)

// Deps are the provider's collaborators.
type Deps struct {
	Store     Store
	Keys      *keys.Manager
	ErrorPage ErrorPage
	Cookies   httpx.Cookies
	Registry  prometheus.Registerer
	Now       func() time.Time
}

// Provider is the OpenID Provider.
type Provider struct {
	cfg       Config
	store     Store
	admission *admission
	keys      *keys.Manager
	clients   *clientCache
	op        *op.Provider
	storage   *opStorage
	errorPage ErrorPage
	cookies   httpx.Cookies
	now       func() time.Time
	metrics   *metrics
	discovery []byte
	cors      *cors.Cors
	signers   signers
	apis      apiCatalogue
	origins   atomic.Pointer[map[string]map[string]bool] // origin → clients that registered it
	features  struct {
		featureCatalogue
		store interface {
			ListFeatures(ctx context.Context) ([]storage.FeatureDefinition, error)
		}
	}
}

// New builds the provider.
func New(cfg Config, d Deps) (*Provider, error) {
	cfg.setDefaults()
	if d.Now == nil {
		d.Now = time.Now
	}
	p := &Provider{cfg: cfg, store: d.Store, keys: d.Keys, errorPage: d.ErrorPage, cookies: d.Cookies, now: d.Now,
		clients: newClientCache(d.Store, cfg, d.Now), metrics: newMetrics(d.Registry), admission: newAdmission(cfg, d.Now, d.Registry)}
	p.storage = &opStorage{p: p}
	p.features.store = d.Store
	issuerURL, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("provider: issuer: %w", err)
	}
	opCfg := &op.Config{
		// The engine uses CryptoKey only for opaque tokens, which we never
		// issue (every client gets JWT access tokens); derive it from the
		// issuer so it is stable but not a usable secret for anything.
		CryptoKey:                sha256.Sum256([]byte("optibid-unused-opaque-token-key:" + cfg.Issuer)),
		DefaultLogoutRedirectURI: cfg.Issuer + "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, claims.ScopeOrg, claims.ScopeEntitlements},
		SupportedClaims: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
			"at_hash", "name", "email", "email_verified", "updated_at", "org", "permissions", "entitlements"},
		SupportedUILocales: cfg.UILocales,
	}
	// An empty allow-list must allow nothing: rs/cors reads an empty
	// AllowedOrigins as "*", so the decision is always ours.
	corsOpts := &cors.Options{
		AllowOriginVaryRequestFunc: p.corsAllowed,
		AllowedMethods:             []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:             []string{"Authorization", "Content-Type"},
		MaxAge:                     600,
	}
	var opts []op.Option
	if issuerURL.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	opts = append(opts, op.WithCORSOptions(corsOpts))
	p.op, err = op.NewProvider(opCfg, p.storage, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p.cors = cors.New(*corsOpts)
	if p.discovery, err = p.buildDiscovery(); err != nil {
		return nil, err
	}
	return p, nil
}

// Register mounts the provider's endpoints on r. The engine serves the
// JWKS only; /authorize, its callback, discovery, token, introspection,
// revocation and userinfo are ours. /end_session is served by package
// login.
func (p *Provider) Register(r *mux.Router) {
	r.Handle("/.well-known/openid-configuration", p.cors.Handler(http.HandlerFunc(p.serveDiscovery))).Methods(http.MethodGet, http.MethodHead, http.MethodOptions)
	r.HandleFunc("/authorize", p.authorize).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/authorize/callback", p.callback).Methods(http.MethodGet)
	r.Handle("/oauth/token", p.cors.Handler(p.admission.limit(http.HandlerFunc(p.token)))).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/oauth/introspect", p.cors.Handler(p.admission.limit(http.HandlerFunc(p.introspect)))).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/revoke", p.cors.Handler(p.admission.limit(http.HandlerFunc(p.revoke)))).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/userinfo", p.cors.Handler(p.admission.limit(http.HandlerFunc(p.userinfo)))).Methods(http.MethodGet, http.MethodPost, http.MethodOptions)
	r.Handle("/keys", p.op).Methods(http.MethodGet, http.MethodHead, http.MethodOptions)
}

// Ready reports whether the store is reachable and migrated (for /readyz).
func (p *Provider) Ready(ctx context.Context) error { return p.store.Ping(ctx) }

// Clients gives other packages cached, read-only access to clients.
func (p *Provider) Clients() ClientReader { return p.clients }

// ClientReader reads clients through the cache.
type ClientReader interface {
	Client(ctx context.Context, id string) (storage.Client, error)
}

// IDTokenHint verifies an id_token_hint signed by us (expired hints are
// accepted, as OIDC RP-initiated logout allows) and returns its subject and
// authorized party.
func (p *Provider) IDTokenHint(ctx context.Context, hint string) (subject, clientID string, err error) {
	ctx = op.ContextWithIssuer(ctx, p.cfg.Issuer)
	claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, hint, p.op.IDTokenHintVerifier(ctx))
	if err != nil && claims == nil {
		return "", "", fmt.Errorf("provider: id_token_hint: %w", err)
	}
	if err != nil {
		var expired op.IDTokenHintExpiredError
		if !errors.As(err, &expired) {
			return "", "", fmt.Errorf("provider: id_token_hint: %w", err)
		}
	}
	return claims.GetSubject(), claims.GetAuthorizedParty(), nil
}

// ManagementCaller is who a management-API token speaks for.
type ManagementCaller struct {
	// UserID is set for a user's token (issued to a first-party client).
	UserID string
	// ServiceAccount is set for a service account's own token.
	ServiceAccount *storage.Client
	// ReadOnly: the token has manage:read, not manage.
	ReadOnly bool
}

// ErrTokenRejected means the bearer token is not a live access token for the
// resource (wrong audience, ID token, expired, revoked, foreign).
var ErrTokenRejected = errors.New("provider: token rejected")

// AuthenticateManagement checks a bearer token for the management API:
// one of our access tokens (never an ID token) whose aud is the management
// API, with scope manage or manage:read, issued to a first-party client
// for a live grant of an active user, or a service account's own token.
// Store failures are wrapped storage.ErrUnavailable, so that the API
// answers 503, not 401.
func (p *Provider) AuthenticateManagement(ctx context.Context, token string) (ManagementCaller, error) {
	at, err := p.verifyAccessToken(token)
	if err != nil || !slices.Contains(at.Audience, p.ManagementAPI()) {
		return ManagementCaller{}, ErrTokenRejected
	}
	out := ManagementCaller{}
	switch sc := at.Scopes(); {
	case slices.Contains(sc, ScopeManage):
	case slices.Contains(sc, ScopeManageRead):
		out.ReadOnly = true
	default:
		return ManagementCaller{}, ErrTokenRejected
	}
	c, err := p.clients.get(ctx, at.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return ManagementCaller{}, ErrTokenRejected
	}
	if err != nil {
		return ManagementCaller{}, fmt.Errorf("provider: load client: %w", storage.ErrUnavailable)
	}
	grantID, ok := grantOf(at.JWTID)
	switch {
	case !ok:
		return ManagementCaller{}, ErrTokenRejected
	case grantID == "": // a client acting for itself: only service accounts
		if !c.ServiceAccount() || at.Subject != c.ID {
			return ManagementCaller{}, ErrTokenRejected
		}
		st, err := p.store.AccessTokenState(ctx, at.JWTID, "")
		if err != nil {
			return ManagementCaller{}, fmt.Errorf("provider: token state: %w", storage.ErrUnavailable)
		}
		if st.Revoked {
			return ManagementCaller{}, ErrTokenRejected
		}
		sa := c.Client
		out.ServiceAccount = &sa
		return out, nil
	}
	if !c.FirstParty || at.Actor != nil {
		return ManagementCaller{}, ErrTokenRejected
	}
	st, oerr := p.storage.activeUserToken(ctx, at.JWTID)
	if oerr == errInactive {
		return ManagementCaller{}, ErrTokenRejected
	}
	if oerr != nil {
		return ManagementCaller{}, fmt.Errorf("provider: token state: %w", storage.ErrUnavailable)
	}
	if st.User.ID != at.Subject || st.User.Locked(p.now()) || st.Grant.ClientID != c.ID {
		return ManagementCaller{}, ErrTokenRejected
	}
	out.UserID = st.User.ID
	return out, nil
}

// CallbackURL is where login sends the browser when the user is done.
func (p *Provider) CallbackURL(id string) string {
	return p.cfg.Issuer + "/authorize/callback?id=" + url.QueryEscape(id)
}

func (p *Provider) buildDiscovery() ([]byte, error) {
	ctx := op.ContextWithIssuer(context.Background(), p.cfg.Issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, grantTokenExchange}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.RequestParameterSupported = false
	d.RequestURIParameterSupported = false
	d.EndSessionEndpoint = p.cfg.Issuer + "/end_session"
	d.ClaimsParameterSupported = false
	d.SubjectTypesSupported = []string{"public"}
	d.IDTokenSigningAlgValuesSupported = algs(p.keys)
	d.ACRValuesSupported = []string{storage.ACRPassword, storage.ACRMFA, storage.ACRPhishingResistant}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["authorization_response_iss_parameter_supported"] = true // RFC 9207
	// Client authentication as our endpoints do it (token.go): secrets by
	// Basic or POST, public clients by client_id; no JWT assertions, so
	// no signing-alg lists for them.
	m["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "client_secret_post", "none"}
	m["introspection_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "client_secret_post"}
	m["revocation_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "client_secret_post", "none"}
	delete(m, "token_endpoint_auth_signing_alg_values_supported")
	delete(m, "introspection_endpoint_auth_signing_alg_values_supported")
	delete(m, "revocation_endpoint_auth_signing_alg_values_supported")
	m["introspection_signing_alg_values_supported"] = []string{p.cfg.SigningAlg} // RFC 9701
	delete(m, "device_authorization_endpoint")
	delete(m, "check_session_iframe")
	for k, v := range m { // drop empty lists the engine leaves in
		if l, ok := v.([]any); ok && len(l) == 0 {
			delete(m, k)
		}
	}
	return json.Marshal(m)
}

func algs(k *keys.Manager) []string {
	var out []string
	for _, a := range k.Algorithms() {
		out = append(out, string(a))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(p.discovery)
}
