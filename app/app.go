package app

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/internal/telemetry"
	"github.com/optibid/idp/login"
	"github.com/optibid/idp/login/mfa"
	"github.com/optibid/idp/login/notify"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/manage"
	adminapi "github.com/optibid/idp/manage/api"
	"github.com/optibid/idp/manage/console"
	"github.com/optibid/idp/provider"
	"github.com/optibid/idp/provider/keys"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/memory"
	"github.com/optibid/idp/storage/postgres"
)

// App is one assembled provider process: store, keys, provider, login
// screens and the router. serve runs it; end-to-end tests run it
// in-process.
type App struct {
	cfg      *Config
	Store    storage.Store
	Keys     *keys.Manager
	Provider *provider.Provider
	Handler  http.Handler
	// Metrics serves the Prometheus metrics: on Handler at /metrics, or
	// on its own listener when http.metrics_addr is set.
	Metrics http.Handler
	// storeUp is the store's reachability, as the last check saw it.
	storeUp prometheus.Gauge
	// reloadPending holds the kinds of reload waiting to run (reloadSoon).
	reloadMu      sync.Mutex
	reloadPending map[string]bool
	// Outbox is the development sender (dev_mode only), else nil.
	Outbox *notify.Outbox
	// resolver looks up DNS TXT records for domain verification.
	resolver adminapi.Resolver
	// pages renders the pages people see outside the sign-in (landing,
	// not found).
	pages *web.Templates
	now   func() time.Time
	ready atomic.Bool
}

// OpenStore opens the configured backend, migrating PostgreSQL when
// storage.postgres.auto_migrate allows (the default).
func OpenStore(ctx context.Context, cfg *Config) (storage.Store, error) {
	if cfg.Storage.Type == "memory" {
		return memory.New(nil), nil
	}
	pg, err := postgres.Open(ctx, cfg.Storage.Postgres)
	if err != nil {
		return nil, err
	}
	if cfg.Storage.Postgres.AutoMigrate == nil || *cfg.Storage.Postgres.AutoMigrate {
		applied, err := pg.Migrate(ctx)
		if err != nil {
			pg.Close()
			return nil, err
		}
		for _, m := range applied {
			slog.InfoContext(ctx, "migration applied", "file", m)
		}
	}
	return pg, nil
}

// Options are what a test may replace; the zero value is production.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Resolver looks up DNS TXT records for domain verification
	// (net.DefaultResolver when nil).
	Resolver adminapi.Resolver
}

// New assembles the process from a validated config: it opens (and
// migrates) the store, applies the bootstrap, and builds keys, provider,
// login screens, management API and router.
func New(ctx context.Context, cfg *Config, opts Options) (*App, error) {
	now, resolver := opts.Now, opts.Resolver
	if now == nil {
		now = time.Now
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, Store: store, now: now, resolver: resolver}
	if err := a.build(ctx); err != nil {
		store.Close()
		return nil, err
	}
	a.storeUp.Set(1) // it was reached moments ago, to bootstrap
	a.ready.Store(true)
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	cfg := a.cfg
	encKey, _ := seal.ParseKey(cfg.Keys.EncryptionKey) // validated
	csrfKey, _ := seal.ParseKey(cfg.Sessions.CSRFKey)
	box, err := seal.New(encKey)
	if err != nil {
		return err
	}
	hasher := password.NewHasher(cfg.Passwords.Argon2, cfg.Passwords.MaxConcurrentHashes, cfg.Passwords.QueueWait)
	// After a burst of sign-ins the hasher drops argon2id's working
	// memory (kept from hash to hash while they come); hand it back to the
	// system instead of holding it until the heap grows again
	// (docs/benchmarks.md, "Memory").
	hasher.OnIdle(hashIdleRelease, hashReleaseGap, debug.FreeOSMemory)
	boot := cfg.Bootstrap
	if cc, on := cfg.consoleClient(); on {
		boot.Clients = append(slices.Clone(boot.Clients), cc)
	}
	if err := ApplyBootstrap(ctx, a.Store, hasher, boot, a.now); err != nil {
		return err
	}
	if err := bootstrapConnections(ctx, a.Store, box, cfg.Federation.Connections, a.now); err != nil {
		return err
	}
	// A retired key must stay published until every token it signed has
	// expired: the longest-lived signed token is the ID token.
	retired := max(cfg.Tokens.IDTokenTTL, cfg.Tokens.AccessTokenTTL) + 5*time.Minute
	a.Keys, err = keys.New(ctx, a.Store, box, keys.Config{Algorithms: cfg.Keys.Algorithms, RetiredFor: retired,
		ReloadInterval: cfg.Keys.ReloadInterval, RotationInterval: max(cfg.Keys.RotationInterval, 0)}, a.now)
	if err != nil {
		return err
	}
	conns := newConnectors(box, cfg.Issuer, cfg.Federation.Timeout, cfg.Federation.AllowPrivateNetworks)
	emailSender, smsSender, outbox, err := senders(cfg)
	// Every message passes the send limits, counted in the store so that
	// they hold across replicas.
	limiter := &notify.Limiter{Limits: cfg.Notify.Limits, Counter: a.Store, Now: a.now}
	emailSender, smsSender = limiter.Email(emailSender), limiter.SMS(smsSender)
	if err != nil {
		return err
	}
	templates, err := web.Load(cfg.UI.ThemeDir)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cookies := httpx.Cookies{Secure: strings.HasPrefix(cfg.Issuer, "https://")}
	a.Provider, err = provider.New(provider.Config{
		Issuer: cfg.Issuer, AccessTokenTTL: cfg.Tokens.AccessTokenTTL, IDTokenTTL: cfg.Tokens.IDTokenTTL,
		RefreshTokenTTL: cfg.Tokens.RefreshTokenTTL, RefreshFamilyTTL: cfg.Tokens.RefreshFamilyTTL,
		CodeTTL: cfg.Tokens.CodeTTL, AuthRequestTTL: cfg.Tokens.AuthRequestTTL, SigningAlg: cfg.Tokens.SigningAlg,
		MaxConcurrent: cfg.Tokens.MaxConcurrent, ClientRate: cfg.Tokens.ClientRate, ClientBurst: cfg.Tokens.ClientBurst,
		RefreshGrace:          cfg.Tokens.RefreshGrace,
		CodeGrace:             cfg.Tokens.CodeGrace,
		AccessTokenSigningAlg: cfg.Tokens.AccessTokenSigningAlg,
		CORSAllowedOrigins:    cfg.HTTP.CORSAllowedOrigins,
		UILocales:             web.Languages,
	}, provider.Deps{Store: a.Store, Keys: a.Keys, ErrorPage: templates.Error, Cookies: cookies, Registry: reg, Now: a.now})
	if err != nil {
		return err
	}
	screens, err := login.New(login.Config{
		Issuer: cfg.Issuer, SessionIdleTimeout: cfg.Sessions.IdleTimeout, SessionAbsoluteTimeout: cfg.Sessions.AbsoluteTimeout,
		CSRFKey: csrfKey, Registration: cfg.Accounts.Registration, PasswordPolicy: cfg.Accounts.PasswordPolicy,
		EmailVerificationTTL: cfg.Accounts.EmailVerificationTTL, PasswordResetTTL: cfg.Accounts.PasswordResetTTL,
		OTPTTL: cfg.MFA.OTPTTL, OTPMaxAttempts: cfg.MFA.OTPMaxAttempts, OTPSendLimit: cfg.MFA.OTPSendLimit, ProductName: cfg.MFA.IssuerName,
		Lockout: storage.LockoutPolicy{BackoffAfter: cfg.Lockout.BackoffAfter, BackoffBase: time.Second,
			BackoffMax: cfg.Lockout.BackoffMax, LockAfter: cfg.Lockout.LockAfter, LockFor: cfg.Lockout.LockFor,
			MaxFailures: cfg.Lockout.MaxFailures},
	}, login.Deps{Store: a.Store, Clients: a.Provider.Clients(), Hasher: hasher, Templates: templates, Cookies: cookies,
		TOTP: mfa.NewTOTP(cfg.MFA.IssuerName, box), Email: emailSender, SMS: smsSender,
		Connectors:  conns,
		CallbackURL: a.Provider.CallbackURL, ErrorRedirectURL: a.Provider.ErrorRedirectURL,
		ClientVouched: a.Provider.ClientVouched,
		IDTokenHint:   a.Provider.IDTokenHint, API: a.Provider.API, APIsWithScope: a.Provider.APIsWithScope, Registry: reg, Now: a.now,
		Invitations: &manage.Service{Store: a.Store, Now: a.now}, Rules: &manage.Service{Store: a.Store, Now: a.now}})
	if err != nil {
		return err
	}
	proxies, _ := httpx.ParseTrustedProxies(cfg.HTTP.TrustedProxies) // validated
	mw := httpx.Middleware(httpx.NewMetrics(reg), cookies.Secure, cfg.HTTP.RequestBudget, proxies)
	r := mux.NewRouter()
	r.Use(mw)
	a.storeUp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "optibid_store_up",
		Help: "1 when the last check reached the store (PostgreSQL), else 0."})
	reg.MustRegister(a.storeUp)
	r.HandleFunc("/healthz", a.healthz)
	r.HandleFunc("/readyz", a.readyz)
	a.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if cfg.HTTP.MetricsAddr == "" {
		r.Handle("/metrics", a.Metrics)
	}
	a.Provider.Register(r)
	screens.Register(r)
	domainKey := sha256.Sum256(append([]byte("optibid-domain-verification:"), encKey...))
	if err := a.Provider.ReloadFeatures(ctx); err != nil {
		return err
	}
	if err := a.Provider.Reload(ctx); err != nil {
		return err
	}
	if !cfg.Console.Disabled {
		// The console calls the provider through the finished router, as
		// any client would (a.Handler is set below, before serving).
		self := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.Handler.ServeHTTP(w, r) })
		con, err := console.New(console.Config{Issuer: cfg.Issuer, ManagementAPI: a.Provider.ManagementAPI(), ProductName: cfg.MFA.IssuerName},
			console.Deps{Provider: self, Sealer: box, Cookies: cookies, Now: a.now})
		if err != nil {
			return err
		}
		con.Register(r)
	}
	adminapi.New(adminapi.Deps{Store: a.Store, Authenticate: a.authenticateManagement, Resolver: a.resolver, DomainKey: domainKey[:],
		Keys: a.Keys, KeyAlgorithms: cfg.Keys.Algorithms,
		Catalogue: a.Provider.Catalogue, Now: a.now,
		Mailer: mailer{emailSender}, ProductName: cfg.MFA.IssuerName, InvitationURL: cfg.invitationURL(),
		InvitationTTL: cfg.Accounts.InvitationTTL, Translator: templates.Translator().Translator,
		NoPasskeys:    !login.PasskeysAvailable(cfg.Issuer),
		ClientChanged: a.clientChanged, Connections: conns, ManagementAPI: a.Provider.ManagementAPI(),
		APIsChanged: func() { _ = a.Provider.ReloadAPIs(context.Background()) }}).Register(r)
	if outbox != nil {
		r.Handle("/dev/outbox", outbox).Methods(http.MethodGet)
		a.Outbox = outbox
	}
	r.HandleFunc("/", a.landing).Methods(http.MethodGet, http.MethodHead)
	a.pages = templates
	r.NotFoundHandler = mw(http.HandlerFunc(a.notFound))
	r.MethodNotAllowedHandler = mw(http.HandlerFunc(methodNotAllowed))
	// Every request is a span (a caller's trace context is linked, not
	// trusted as the parent: anyone can send one); the
	// edge middleware names it after the route. With tracing off this is
	// the no-op tracer.
	a.Handler = r
	if telemetry.Enabled() { // off, the wrapper would only cost time per request
		a.Handler = otelhttp.NewHandler(r, "http", otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
			otelhttp.WithPropagators(propagation.TraceContext{}))
	}
	return nil
}

// senders builds the configured email and SMS senders (validated config).
func senders(cfg *Config) (notify.EmailSender, notify.SMSSender, *notify.Outbox, error) {
	var outbox *notify.Outbox
	if cfg.DevMode {
		outbox = notify.NewOutbox(100)
	}
	var email notify.EmailSender
	var err error
	switch cfg.Notify.Email.Type {
	case "smtp":
		email, err = notify.NewSMTP(cfg.Notify.Email.SMTP)
	case "sendgrid":
		email, err = notify.NewSendGrid(cfg.Notify.Email.SendGrid, nil)
	default:
		email = outbox
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var sms notify.SMSSender
	switch cfg.Notify.SMS.Type {
	case "twilio":
		sms, err = notify.NewTwilio(cfg.Notify.SMS.Twilio, nil)
	case "outbox":
		sms = outbox
	}
	return email, sms, outbox, err
}

// readyz answers what a load balancer should act on: this process is
// started and not draining. A shared dependency's outage (the store) is not
// a reason to take every replica out at once: discovery, JWKS and cached
// work keep being served, and database-bound requests answer 503 with
// Retry-After on their own. The store's state is in /healthz and in
// optibid_store_up.
func (a *App) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// healthz is liveness: 200 while the process serves, with the state of
// its dependencies as detail (never a reason to restart it).
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	store := "ok"
	if !a.checkStore(r.Context()) {
		store = "unavailable"
	}
	w.Header().Set("Content-Type", "application/json")
	httpx.NoStore(w)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "store": store})
}

// checkStore pings the store (bounded) and records the result.
func (a *App) checkStore(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := a.Provider.Ready(ctx)
	if err != nil {
		slog.WarnContext(ctx, "store unreachable", "error", err)
		a.storeUp.Set(0)
		return false
	}
	a.storeUp.Set(1)
	return true
}

func jsonError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// wantsPage reports whether the caller is a person's browser (it asks
// for HTML) rather than an API client.
func wantsPage(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }

// notFound answers an unknown path: a page with a way on for a browser,
// JSON for an API client.
func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	if !wantsPage(r) {
		jsonError(w, http.StatusNotFound, "not_found")
		return
	}
	a.pages.Write(w, r, http.StatusNotFound, "notice", map[string]string{"Title": "Page not found",
		"Message": "There is no page at this address. If you followed a link from an application, go back to it and sign in again from there.",
		"Link":    "/account", "LinkText": "Go to your account"})
}

// landing is /: what this service is and where a person goes from here;
// API clients get the discovery address.
func (a *App) landing(w http.ResponseWriter, r *http.Request) {
	if !wantsPage(r) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": a.cfg.Issuer,
			"openid_configuration": a.cfg.Issuer + "/.well-known/openid-configuration"})
		return
	}
	a.pages.Write(w, r, http.StatusOK, "notice", map[string]any{"Title": "{{.Product}} sign-in",
		"Message": "This is where you sign in to {{.Product}} applications. Manage your account, or, as an administrator, your organization.",
		"Data":    map[string]any{"Product": a.cfg.MFA.IssuerName}, "Link": "/account", "LinkText": "Go to your account"})
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed")
}

// authenticateManagement adapts the provider's check of management-API
// tokens to the API's principal.
func (a *App) authenticateManagement(ctx context.Context, token string) (adminapi.Principal, error) {
	c, err := a.Provider.AuthenticateManagement(ctx, token)
	if errors.Is(err, storage.ErrUnavailable) {
		return adminapi.Principal{}, fmt.Errorf("%w: %w", adminapi.ErrUnavailable, err)
	}
	if err != nil {
		return adminapi.Principal{}, err
	}
	return adminapi.Principal{UserID: c.UserID, ServiceAccount: c.ServiceAccount, ReadOnly: c.ReadOnly}, nil
}

// clientChanged applies a client change made on this replica at once: the
// cached client and the CORS origins.
func (a *App) clientChanged(id string) {
	a.Provider.ForgetClient(id)
	_ = a.Provider.ReloadClientOrigins(context.Background())
}

// changeFeed is a store that announces committed changes (PostgreSQL's
// LISTEN/NOTIFY); the memory store has no other replicas to hear from.
type changeFeed interface {
	Changes(ctx context.Context, f func(table, key string))
}

// applyChange brings this replica's in-memory copies up to date with a
// change committed anywhere; table "" means anything may have changed.
func (a *App) applyChange(ctx context.Context, table, key string) {
	slog.DebugContext(ctx, "change committed", "table", table, "key", key)
	// Dropping a cached client is cheap and done at once; reloads read the
	// store, so a burst of changes (a bulk import, a deleted organization
	// with many clients) is coalesced into one reload per kind.
	switch table {
	case "clients":
		a.Provider.ForgetClient(key)
		a.reloadSoon(ctx, "origins", a.Provider.ReloadClientOrigins)
	case "apis":
		a.reloadSoon(ctx, "apis", a.Provider.ReloadAPIs)
	case "signing_keys":
		a.reloadSoon(ctx, "keys", a.Keys.Reload)
	case "feature_definitions":
		a.reloadSoon(ctx, "features", a.Provider.ReloadFeatures)
	case "organizations", "organization_domains":
		// An organization's clients vouch through its verified domains,
		// and its deletion removes its clients and APIs.
		a.Provider.ForgetClients()
		a.reloadSoon(ctx, "provider", a.Provider.Reload)
	case "":
		a.Provider.ForgetClients()
		a.reloadSoon(ctx, "keys", a.Keys.Reload)
		a.reloadSoon(ctx, "features", a.Provider.ReloadFeatures)
		a.reloadSoon(ctx, "provider", a.Provider.Reload)
	}
}

// hashIdleRelease is how long the hashing pool stays empty before the
// memory its hashes left is returned: long enough that steady sign-in
// traffic never pays for it (a forced collection), short enough that a
// replica is back to its idle size moments after a burst.
const hashIdleRelease = 250 * time.Millisecond

// hashReleaseGap is the least time between two such returns: one costs
// tens of milliseconds of CPU (a forced collection, and the page faults
// of the next hash's fresh memory), so sign-ins that trickle in (each one
// its own quiet spell) pay it at most once per gap: under 2% of a core.
const hashReleaseGap = 2 * time.Second

// reloadCoalesce is how long changes of one kind are gathered into one
// reload: far below what a person notices, far above a burst's spacing.
const reloadCoalesce = 50 * time.Millisecond

// reloadSoon runs reload once reloadCoalesce from now, unless one of this
// kind is already waiting (which will see this change too).
func (a *App) reloadSoon(ctx context.Context, kind string, reload func(context.Context) error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.reloadPending == nil {
		a.reloadPending = map[string]bool{}
	}
	if a.reloadPending[kind] {
		return
	}
	a.reloadPending[kind] = true
	time.AfterFunc(reloadCoalesce, func() {
		a.reloadMu.Lock()
		delete(a.reloadPending, kind)
		a.reloadMu.Unlock()
		if err := reload(ctx); err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "reload after a change failed; the periodic reload will retry", "kind", kind, "error", err)
		}
	})
}

// Run keeps the background work going until ctx ends: change
// notifications from other replicas, periodic reloads as their fallback,
// and expiry clean-up.
func (a *App) Run(ctx context.Context) {
	go a.Keys.Run(ctx)
	if feed, ok := a.Store.(changeFeed); ok {
		go feed.Changes(ctx, func(table, key string) { a.applyChange(ctx, table, key) })
	}
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	features := time.NewTicker(30 * time.Second)
	defer features.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-features.C:
			_ = a.Provider.ReloadFeatures(ctx) // other replicas' catalogue changes; a failure keeps the old one
			_ = a.Provider.Reload(ctx)         // APIs and client origins, likewise
			a.checkStore(ctx)
		case <-t.C:
			n, err := a.Store.DeleteExpired(ctx, a.now().UTC())
			if err != nil && !errors.Is(err, context.Canceled) {
				slog.WarnContext(ctx, "clean-up failed", "error", err)
			} else if n > 0 {
				slog.InfoContext(ctx, "expired rows removed", "rows", n)
			}
		}
	}
}

// Drain marks the process not ready, so load balancers stop sending it new
// requests before shutdown.
func (a *App) Drain() { a.ready.Store(false) }

// Close releases the store.
func (a *App) Close() { a.Store.Close() }

// Banner describes a development start: where to go and how to sign in.
func (a *App) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOptiBid Identity is running at %s (storage: %s)\n", a.cfg.Issuer, a.cfg.Storage.Type)
	fmt.Fprintf(&b, "  discovery: %s/.well-known/openid-configuration\n", a.cfg.Issuer)
	for _, o := range a.cfg.Bootstrap.Organizations {
		fmt.Fprintf(&b, "  organization: %s (%s)\n", o.Name, o.Slug)
	}
	for _, u := range a.cfg.Bootstrap.Users {
		var what []string
		if u.Organization != "" {
			what = append(what, u.Role+" of "+u.Organization)
		}
		if u.PlatformAdmin {
			what = append(what, "platform operator")
		}
		fmt.Fprintf(&b, "  user: %s / password %s (%s)\n", u.Email, u.Password, strings.Join(what, "; "))
	}
	for _, c := range a.cfg.Bootstrap.Clients {
		kind := "public"
		if c.Secret != "" {
			kind = "confidential, secret " + c.Secret
		}
		spec := c.Spec()
		spec.Normalize()
		fmt.Fprintf(&b, "  client: %s (%s; grants %s)\n", c.ID, kind, strings.Join(spec.GrantTypes, ", "))
	}
	for _, c := range a.cfg.Bootstrap.Clients {
		if c.Secret != "" && len(c.RedirectURIs) > 0 {
			fmt.Fprintf(&b, "  try it: %s/authorize?client_id=%s&redirect_uri=%s&response_type=code&scope=openid%%20profile%%20email%%20org%%20entitlements&state=demo\n",
				a.cfg.Issuer, c.ID, c.RedirectURIs[0])
			break
		}
	}
	if !a.cfg.Console.Disabled {
		fmt.Fprintf(&b, "  console: %s/console (sign in as a user above; platform admins also see /console/platform)\n", a.cfg.Issuer)
	}
	fmt.Fprintf(&b, "  management API: %s (resource for /api/v1 tokens; scopes manage, manage:read)\n", a.Provider.ManagementAPI())
	for _, api := range a.cfg.Bootstrap.APIs {
		var scopes []string
		for _, s := range api.Scopes {
			scopes = append(scopes, s.Name)
		}
		fmt.Fprintf(&b, "  API: %s %s (scopes %s)\n", api.Name, api.Identifier, strings.Join(scopes, " "))
	}
	// A machine token for the first API, and the example API to call.
	for _, c := range a.cfg.Bootstrap.Clients {
		if len(a.cfg.Bootstrap.APIs) == 0 || c.Secret == "" || !slices.Contains(c.GrantTypes, manage.GrantClientCredentials) {
			continue
		}
		api := a.cfg.Bootstrap.APIs[0]
		scope := ""
		if len(api.Scopes) > 0 {
			scope = " -d scope=" + api.Scopes[0].Name
		}
		fmt.Fprintf(&b, "  token for %s: curl -s -u %s:%s -d grant_type=client_credentials -d resource=%s%s %s/oauth/token\n",
			api.Name, c.ID, c.Secret, api.Identifier, scope, a.cfg.Issuer)
		fmt.Fprintf(&b, "  example API: OPTIBID_ISSUER=%s API_AUDIENCE=%s go run ./cmd/example-api\n", a.cfg.Issuer, api.Identifier)
		fmt.Fprintf(&b, "               curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8090/bids\n")
		break
	}
	return b.String()
}

// RotateKeys rotates the signing keys of alg (every configured algorithm
// when empty) in store on the operator's behalf, and lists the published
// keys as alg:kid.
func RotateKeys(ctx context.Context, cfg *Config, store storage.Store, alg string) ([]string, error) {
	encKey, err := seal.ParseKey(cfg.Keys.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("keys.encryption_key: %w", err)
	}
	box, err := seal.New(encKey)
	if err != nil {
		return nil, err
	}
	m, err := keys.New(ctx, store, box, keys.Config{Algorithms: cfg.Keys.Algorithms,
		RetiredFor: max(cfg.Tokens.IDTokenTTL, cfg.Tokens.AccessTokenTTL) + 5*time.Minute}, time.Now)
	if err != nil {
		return nil, err
	}
	if err := m.Rotate(ctx, alg, manage.CLI); err != nil {
		return nil, err
	}
	var kids []string
	for _, k := range m.KeySet() {
		kids = append(kids, string(k.Algorithm())+":"+k.ID())
	}
	return kids, nil
}
