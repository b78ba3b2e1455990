package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/login/mfa"
	"github.com/optibid/idp/login/notify"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/storage"
)

// Config configures the login screens.
type Config struct {
	Issuer string
	// SessionIdleTimeout ends an SSO session unused this long (default 1h).
	SessionIdleTimeout time.Duration
	// SessionAbsoluteTimeout ends every SSO session this long after login
	// (default 12h).
	SessionAbsoluteTimeout time.Duration
	Lockout                storage.LockoutPolicy
	// CSRFKey keys the CSRF tokens (32 bytes).
	CSRFKey []byte
	// Registration: "open", "invite_only" or "disabled".
	Registration   string
	PasswordPolicy password.Policy
	// EmailVerificationTTL: lifetime of verification links (default 24h).
	EmailVerificationTTL time.Duration
	// PasswordResetTTL: lifetime of reset links (default 1h, at most 1h).
	PasswordResetTTL time.Duration
	// OTPTTL: lifetime of SMS and email codes (default 5m).
	OTPTTL time.Duration
	// OTPMaxAttempts: wrong guesses a code tolerates (default 5).
	OTPMaxAttempts int
	// OTPSendLimit: codes a user may be sent per 15 minutes (default 5).
	OTPSendLimit int
	// ProductName labels emails and authenticator entries.
	ProductName string
}

// Store is the storage the login screens use: exactly the methods they
// call, declared here where they are used.
type Store interface {
	AdmitLogin(ctx context.Context, userID string, p storage.LockoutPolicy, now time.Time, lockEv storage.AuditEvent) (storage.Ticket, error)
	AppendAudit(ctx context.Context, ev storage.AuditEvent) error
	AuthRequestByID(ctx context.Context, id string) (storage.AuthRequest, error)
	BackupCodesRemaining(ctx context.Context, userID string) (int, error)
	CompleteAuthRequest(ctx context.Context, id, userID string, authTime time.Time, amr []string, sessionHash string) error
	ConfirmTOTP(ctx context.Context, userID string, step int64, now time.Time, ev storage.AuditEvent) error
	ConnectionByID(ctx context.Context, id string) (storage.Connection, error)
	ConsentOf(ctx context.Context, userID, clientID string) (storage.Consent, error)
	DomainsOf(ctx context.Context, orgID string) ([]storage.OrganizationDomain, error)
	ConsentsOf(ctx context.Context, userID string) ([]storage.Consent, error)
	RevokeConsent(ctx context.Context, userID, clientID string, now time.Time, ev storage.AuditEvent) error
	ConsumeActionToken(ctx context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error)
	ActionTokenState(ctx context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error)
	ConsumeFederationState(ctx context.Context, stateHash string, now time.Time) (storage.FederationState, error)
	CountOTPChallenges(ctx context.Context, userID string, since time.Time) (int, error)
	CreateActionToken(ctx context.Context, t storage.ActionToken, ev storage.AuditEvent) error
	CreateAuthRequest(ctx context.Context, ar storage.AuthRequest) error
	CreateFederationState(ctx context.Context, s storage.FederationState) error
	CreateOTPChallenge(ctx context.Context, c storage.OTPChallenge, ev storage.AuditEvent) error
	CreateUser(ctx context.Context, u storage.User, ev storage.AuditEvent) (storage.User, error)
	CreateUserWithOrganization(ctx context.Context, u storage.User, o storage.Organization, ev, orgEv storage.AuditEvent) (storage.User, storage.Organization, error)
	DeleteTOTP(ctx context.Context, userID string, ev storage.AuditEvent) error
	GrantConsent(ctx context.Context, c storage.Consent, ev storage.AuditEvent) error
	IdentityByUpstream(ctx context.Context, connectionID, issuer, subject string) (storage.FederatedIdentity, error)
	LinkIdentity(ctx context.Context, fi storage.FederatedIdentity, ev storage.AuditEvent) error
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	ListConnections(ctx context.Context) ([]storage.Connection, error)
	LoginFailed(ctx context.Context, userID string, p storage.LockoutPolicy, now time.Time, ev storage.AuditEvent) (storage.User, error)
	LoginSucceeded(ctx context.Context, userID string, t *storage.Ticket, now time.Time, newHash string, s storage.Session, ev, liftEv storage.AuditEvent) error
	MembershipsByUser(ctx context.Context, userID string) ([]storage.Membership, error)
	OrganizationByID(ctx context.Context, id string) (storage.Organization, error)
	AddPasskey(ctx context.Context, p storage.Passkey, ev storage.AuditEvent) error
	ChangeEmail(ctx context.Context, userID, email string, ev storage.AuditEvent) error
	IdentitiesOf(ctx context.Context, userID string) ([]storage.FederatedIdentity, error)
	UnlinkIdentity(ctx context.Context, userID, connectionID, issuer, subject string, ev storage.AuditEvent) error
	PasskeysByUser(ctx context.Context, userID string) ([]storage.Passkey, error)
	PasskeyByID(ctx context.Context, id []byte) (storage.Passkey, error)
	UsePasskey(ctx context.Context, id []byte, signCount uint32, backupState bool, now time.Time, cloneEv storage.AuditEvent) error
	RenamePasskey(ctx context.Context, userID string, id []byte, name string, ev storage.AuditEvent) error
	DeletePasskey(ctx context.Context, userID string, id []byte, ev storage.AuditEvent) error
	CreatePasskeyChallenge(ctx context.Context, c storage.PasskeyChallenge) error
	ConsumePasskeyChallenge(ctx context.Context, idHash, browserHash string, now time.Time) (storage.PasskeyChallenge, error)
	OrganizationBySlug(ctx context.Context, slug string) (storage.Organization, error)
	OrganizationByVerifiedDomain(ctx context.Context, domain string) (storage.Organization, error)
	ProvisionFederatedUser(ctx context.Context, u storage.User, m *storage.Membership, fi storage.FederatedIdentity, ev storage.AuditEvent) (storage.User, error)
	ReleaseAdmission(ctx context.Context, userID string, t storage.Ticket, liftEv storage.AuditEvent) error
	ReplaceBackupCodes(ctx context.Context, userID string, hashes []string, now time.Time, ev storage.AuditEvent) error
	RevokeSession(ctx context.Context, hash string, now time.Time, ev storage.AuditEvent) error
	SaveTOTP(ctx context.Context, t storage.TOTP, ev storage.AuditEvent) error
	SessionByHash(ctx context.Context, hash string) (storage.Session, error)
	SessionsByUser(ctx context.Context, userID string, now time.Time) ([]storage.Session, error)
	SetAuthRequestOrg(ctx context.Context, id, orgID string) error
	SetPassword(ctx context.Context, id, hash string, now time.Time, ev storage.AuditEvent) error
	SetPendingLogin(ctx context.Context, id, userID string, amr []string, at time.Time) error
	SetPhone(ctx context.Context, id, phone string, verified bool, ev storage.AuditEvent) error
	TOTPByUser(ctx context.Context, userID string) (storage.TOTP, error)
	TouchIdentity(ctx context.Context, fi storage.FederatedIdentity, now time.Time) error
	TouchSession(ctx context.Context, hash string, now time.Time) error
	UnlinkEmailLinks(ctx context.Context, userID string, ev storage.AuditEvent) (int, error)
	UpdateProfile(ctx context.Context, id, name string, emailVerified bool, ev storage.AuditEvent) error
	UpsertMembership(ctx context.Context, m storage.Membership, ev storage.AuditEvent) error
	UseBackupCode(ctx context.Context, userID, hash string, now time.Time, ev storage.AuditEvent) error
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	UserByEmail(ctx context.Context, email string) (storage.User, error)
	UserByID(ctx context.Context, id string) (storage.User, error)
	VerifyOTPChallenge(ctx context.Context, id, authRequestID, codeHash string, maxAttempts int, now time.Time) error
}

// ClientReader reads registered clients (through the provider's cache).
type ClientReader interface {
	Client(ctx context.Context, id string) (storage.Client, error)
}

// Deps are the login screens' collaborators. The three functions come from
// the provider.
type Deps struct {
	Store   Store
	Clients ClientReader
	Hasher  *password.Hasher
	TOTP    *mfa.TOTP
	Email   notify.EmailSender
	SMS     notify.SMSSender // nil: no SMS codes
	// Connectors builds upstream connectors; nil disables federation.
	Connectors Connectors
	Templates  *web.Templates
	Cookies    httpx.Cookies
	// CallbackURL is where to send the browser once an auth request is done.
	CallbackURL func(authRequestID string) string
	// ErrorRedirectURL is the authorization error response for a request.
	ErrorRedirectURL func(ctx context.Context, ar storage.AuthRequest, code, description string) string
	// ClientVouched reports whether a client's addresses may receive a
	// bounce (the provider's rule, shared with /authorize).
	ClientVouched func(ctx context.Context, c storage.Client) (bool, error)
	// IDTokenHint verifies an id_token_hint (expired ones accepted).
	IDTokenHint func(ctx context.Context, hint string) (subject, clientID string, err error)
	// Invitations finds and accepts organization invitations (nil: the
	// invitation page answers 404).
	Invitations Invitations
	// Rules are what the account page does through the management layer
	// (leave an organization, export, erase); nil turns those off.
	Rules AccountRules
	// APIsWithScope finds the APIs that define a scope, for the consent
	// page when a request names no resource (nil: none known).
	APIsWithScope func(scope string) []storage.API
	// API finds a registered API, for the consent page (nil: none known).
	API      func(identifier string) (storage.API, bool)
	Registry prometheus.Registerer
	Now      func() time.Time
}

// Handler serves the login screens.
type Handler struct {
	cfg Config
	Deps
	origin  string
	metrics *metrics
	// passkeys is the WebAuthn relying party (nil: the issuer's host is an
	// IP address, which cannot have passkeys).
	passkeys *webauthn.WebAuthn
}

// DefaultConfig holds the defaults of the sign-in tunables (the config
// file's defaults come from here): sessions idle out after an hour and end
// after 12; email links last a day, reset links an hour (never more);
// one-time codes 5 minutes, 5 attempts, 5 sends; open registration; the
// lockout and password policies of their packages.
func DefaultConfig() Config {
	return Config{SessionIdleTimeout: time.Hour, SessionAbsoluteTimeout: 12 * time.Hour, Lockout: storage.DefaultLockoutPolicy(),
		PasswordPolicy: password.DefaultPolicy(), EmailVerificationTTL: 24 * time.Hour, PasswordResetTTL: time.Hour,
		OTPTTL: 5 * time.Minute, OTPMaxAttempts: 5, OTPSendLimit: 5, Registration: "open", ProductName: "OptiBid"}
}

// setDefaults fills what is unset from DefaultConfig, and caps the reset
// link's life at its default.
func (cfg *Config) setDefaults() {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *time.Duration }{{&cfg.SessionIdleTimeout, &d.SessionIdleTimeout},
		{&cfg.SessionAbsoluteTimeout, &d.SessionAbsoluteTimeout}, {&cfg.EmailVerificationTTL, &d.EmailVerificationTTL},
		{&cfg.PasswordResetTTL, &d.PasswordResetTTL}, {&cfg.OTPTTL, &d.OTPTTL}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	cfg.PasswordResetTTL = min(cfg.PasswordResetTTL, d.PasswordResetTTL)
	for _, f := range []struct{ v, def *int }{{&cfg.OTPMaxAttempts, &d.OTPMaxAttempts}, {&cfg.OTPSendLimit, &d.OTPSendLimit}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if cfg.Lockout == (storage.LockoutPolicy{}) {
		cfg.Lockout = d.Lockout
	}
	if cfg.PasswordPolicy == (password.Policy{}) {
		cfg.PasswordPolicy = d.PasswordPolicy
	}
	for _, f := range []struct{ v, def *string }{{&cfg.Registration, &d.Registration}, {&cfg.ProductName, &d.ProductName}} {
		if *f.v == "" {
			*f.v = *f.def
		}
	}
}

// New returns the login handler.
func New(cfg Config, d Deps) (*Handler, error) {
	cfg.setDefaults()
	if d.Email == nil || d.TOTP == nil {
		return nil, errors.New("login: an email sender and TOTP are required")
	}
	if len(cfg.CSRFKey) < 32 {
		return nil, errors.New("login: CSRF key must be at least 32 bytes")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" {
		return nil, errors.New("login: issuer must be an absolute URL")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	wa, err := newWebAuthn(cfg.Issuer, cfg.ProductName)
	if err != nil {
		return nil, fmt.Errorf("login: passkeys: %w", err)
	}
	return &Handler{cfg: cfg, Deps: d, origin: u.Scheme + "://" + u.Host, metrics: newMetrics(d.Registry), passkeys: wa}, nil
}

// Register mounts the screens on r.
func (h *Handler) Register(r *mux.Router) {
	r.HandleFunc("/login", h.loginPage).Methods(http.MethodGet)
	r.HandleFunc("/login/error", h.signInError).Methods(http.MethodGet)
	r.HandleFunc("/login", h.loginSubmit).Methods(http.MethodPost)
	r.HandleFunc("/consent", h.consentPage).Methods(http.MethodGet)
	r.HandleFunc("/consent", h.consentSubmit).Methods(http.MethodPost)
	r.HandleFunc("/end_session", h.logoutPage).Methods(http.MethodGet)
	r.HandleFunc("/end_session", h.logoutSubmit).Methods(http.MethodPost)
	r.HandleFunc("/logged-out", h.loggedOut).Methods(http.MethodGet)
	r.HandleFunc("/login/mfa", h.mfaPage).Methods(http.MethodGet)
	r.HandleFunc("/login/mfa", h.mfaSubmit).Methods(http.MethodPost)
	r.HandleFunc("/login/mfa/send", h.mfaSend).Methods(http.MethodPost)
	r.HandleFunc("/login/mfa/enroll", h.enrollPage).Methods(http.MethodGet)
	r.HandleFunc("/login/mfa/enroll", h.enrollSubmit).Methods(http.MethodPost)
	r.HandleFunc("/register", h.registerPage).Methods(http.MethodGet)
	r.HandleFunc("/register", h.registerSubmit).Methods(http.MethodPost)
	r.HandleFunc("/verify-email", h.verifyEmailPage).Methods(http.MethodGet)
	r.HandleFunc("/verify-email", h.verifyEmail).Methods(http.MethodPost)
	r.HandleFunc("/forgot", h.forgotPage).Methods(http.MethodGet)
	r.HandleFunc("/forgot", h.forgotSubmit).Methods(http.MethodPost)
	r.HandleFunc("/reset", h.resetPage).Methods(http.MethodGet)
	r.HandleFunc("/reset", h.resetSubmit).Methods(http.MethodPost)
	h.registerAccount(r)
	h.registerPasskeys(r)
	h.registerFederation(r)
	r.HandleFunc("/login/org", h.orgSubmit).Methods(http.MethodPost)
	r.HandleFunc("/branding/{org}.css", h.brandingCSS).Methods(http.MethodGet)
	r.HandleFunc("/lang/{lang}", h.setLanguage).Methods(http.MethodGet)
	r.HandleFunc("/invitations/accept", h.invitationPage).Methods(http.MethodGet)
	r.HandleFunc("/invitations/accept", h.invitationAccept).Methods(http.MethodPost)
	r.PathPrefix("/static/").Handler(h.Templates.Static()).Methods(http.MethodGet, http.MethodHead)
}

func (h *Handler) now() time.Time { return h.Now().UTC() }

// render writes a page with the headers every page carries, in the look
// of the organization the sign-in is for (the request's id) when it has
// one.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	id := r.URL.Query().Get("id")
	if id == "" && r.PostForm != nil {
		id = r.PostForm.Get("id")
	}
	h.Templates.Write(w, h.signInContext(r, id), status, page, data)
}

// Error renders the friendly error page, logged with its cause (see
// web.Templates.Error).
func (h *Handler) Error(w http.ResponseWriter, r *http.Request, status int, message string, cause ...any) {
	h.Templates.Error(w, r, status, message, cause...)
}

const unavailable = "Sign-in is temporarily unavailable. Please try again shortly."

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.Error(w, r, http.StatusServiceUnavailable, unavailable, "reason", what, "error", err)
}

// signInError is where a sign-in ends with an error that is not sent back
// to the application (its address is not vouched for): a page, with the
// error's code only when it is one of ours.
func (h *Handler) signInError(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	msg, data := "The sign-in could not be completed. Return to the application and try again.", map[string]any(nil)
	if oauthErrorCode.MatchString(code) {
		msg, data = "The sign-in could not be completed ({{.Code}}). Return to the application and try again.", map[string]any{"Code": code}
	}
	h.Templates.ErrorWith(w, r, http.StatusBadRequest, msg, data, web.Next{}, "reason", "sign-in error of an application whose address is not vouched for",
		"error_code", httpx.Clip(code))
}

var oauthErrorCode = regexp.MustCompile(`^[a-z_]{1,40}$`)

// --- CSRF ---

// csrfToken binds a form to this browser: HMAC of the browser ID.
func (h *Handler) csrfToken(browserID string) string {
	m := hmac.New(sha256.New, h.cfg.CSRFKey)
	m.Write([]byte("csrf:" + browserID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkForm parses a POST and verifies the CSRF token and where the form
// came from (httpx.SameOriginForm).
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		h.Error(w, r, http.StatusBadRequest, "The form could not be read. Please go back and try again.", "reason", "unparsable form", "error", err)
		return false
	}
	if !httpx.SameOriginForm(r, h.origin) {
		h.Error(w, r, http.StatusForbidden, "This form was sent from another site and was refused.",
			"reason", "cross-site form post", "origin", httpx.Clip(r.Header.Get("Origin")), "sec_fetch_site", httpx.Clip(r.Header.Get("Sec-Fetch-Site")))
		return false
	}
	browser := h.Cookies.BrowserID(r)
	token := r.PostForm.Get("csrf")
	if browser == "" || token == "" || !hmac.Equal([]byte(token), []byte(h.csrfToken(browser))) {
		h.Error(w, r, http.StatusForbidden, "Your form expired or was sent from another site. Please go back, reload the page and try again.",
			"reason", "CSRF token missing or not this browser's", "browser_cookie", browser != "", "token_sent", token != "")
		return false
	}
	return true
}

// --- auth requests ---

// authRequest loads the auth request named by id and checks that this
// browser started it; on failure it has written the error page.
func (h *Handler) authRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, bool) {
	ar, err := h.Store.AuthRequestByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		h.Error(w, r, http.StatusBadRequest, "This sign-in link is no longer valid. Return to the application and sign in again.",
			"reason", "unknown or expired auth request")
		return ar, false
	}
	if err != nil {
		h.fail(w, r, "load auth request", err)
		return ar, false
	}
	if !h.Cookies.SameBrowser(r, ar.BrowserHash) {
		h.Error(w, r, http.StatusForbidden, "This sign-in was started in another browser. Return to the application and sign in again here.",
			"reason", "auth request bound to another browser", "client_id", ar.ClientID)
		return ar, false
	}
	httpx.NoteClient(r.Context(), ar.ClientID)
	return ar, true
}

// requestAndClient loads the auth request (for this browser) and its
// client; on failure it has written the error page.
func (h *Handler) requestAndClient(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, bool) {
	ar, ok := h.authRequest(w, r, id)
	if !ok {
		return ar, storage.Client{}, false
	}
	if ar.ClientID == accountClient {
		return ar, storage.Client{ID: accountClient, Name: "your " + h.cfg.ProductName + " account"}, true
	}
	c, err := h.Clients.Client(r.Context(), ar.ClientID)
	if err != nil {
		h.fail(w, r, "load client", err)
		return ar, c, false
	}
	return ar, c, true
}

// consentDue reports whether the user must be asked before the client
// gets a grant: always when the client requires it or prompt=consent asks;
// for a client that is not the operator's own, whenever the request holds
// a scope or an API the user has not granted it before. First-party
// clients (and the account page) are trusted without asking.
func (h *Handler) consentDue(ctx context.Context, ar storage.AuthRequest, c storage.Client, userID string) (bool, error) {
	if c.RequireConsent || slices.Contains(ar.Prompt, "consent") {
		return true, nil
	}
	if c.FirstParty || c.ID == accountClient {
		return false, nil
	}
	given, err := h.Store.ConsentOf(ctx, userID, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range ar.Scopes {
		if !slices.Contains(given.Scopes, s) {
			return true, nil
		}
	}
	for _, res := range ar.Resources {
		if !slices.Contains(given.Resources, res) {
			return true, nil
		}
	}
	return false, nil
}

// finish completes the auth request for the session and sends the browser
// to the callback (303: the next request is a GET, whatever this one was).
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, s storage.Session) {
	err := h.Store.CompleteAuthRequest(r.Context(), ar.ID, s.UserID, s.AuthTime, s.AMR, s.IDHash)
	if errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
		h.Error(w, r, http.StatusBadRequest, "This sign-in was already completed. Return to the application.")
		return
	}
	if err != nil {
		h.fail(w, r, "complete auth request", err)
		return
	}
	if ar.ClientID == accountClient {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, h.CallbackURL(ar.ID), http.StatusSeeOther)
}

// metrics are the login screens' Prometheus series.
type metrics struct {
	logins     *prometheus.CounterVec
	mfa        *prometheus.CounterVec
	federation *prometheus.CounterVec
	lockouts   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_logins_total",
			Help: "Sign-ins by method (password, passkey, federated) and result."}, []string{"method", "result"}),
		mfa: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_mfa_total",
			Help: "Second-factor checks by factor (totp, backup, email, sms, passkey) and result."}, []string{"factor", "result"}),
		federation: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_federation_total",
			Help: "Sign-ins through an upstream identity provider by connection and result."}, []string{"connection", "result"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "optibid_account_lockouts_total",
			Help: "Accounts locked after repeated failures."}),
	}
	if reg != nil {
		reg.MustRegister(m.logins, m.mfa, m.federation, m.lockouts)
	}
	return m
}
