package apiauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config configures a Verifier. Issuer and Audience are required; a zero
// value anywhere else means the documented default.
type Config struct {
	// Issuer is the issuer URL, compared exactly with the `iss` claim and
	// with the discovery document's `issuer`. It must be https, or http on
	// a loopback host (localhost, 127.0.0.0/8, ::1) for development.
	Issuer string
	// Audience is this API's identifier, an absolute URI such as
	// https://api.optibid.example/trading, which the `aud` claim must
	// contain.
	Audience string
	// Realm names the API in WWW-Authenticate challenges. Default: Audience.
	Realm string
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s, at
	// most 2m.
	Leeway time.Duration
	// Algorithms lists the accepted JWS algorithms. Default ES256 and
	// RS256. Only asymmetric algorithms are allowed.
	Algorithms []string
	// JWKSRefreshMinInterval is the least time between two JWKS fetches;
	// it bounds what unknown `kid`s cost the issuer. Default 30s.
	JWKSRefreshMinInterval time.Duration
	// Introspection, when set, makes Verify also ask the issuer whether
	// each token is still active, which catches revocation.
	Introspection *IntrospectionConfig
	// HTTPClient talks to the issuer. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives why tokens were rejected and why the issuer could
	// not be reached. Default: discard.
	Logger *slog.Logger
}

// IntrospectionConfig holds the API's own client credentials at the issuer,
// used for RFC 7662 token introspection. OptiBid Identity tells a client
// about a token only when the client acts for one of the token's audiences
// (or issued it), and answers active=false otherwise: a client not set up
// to act for Audience makes every token fail with ErrInactive.
type IntrospectionConfig struct {
	ClientID     string
	ClientSecret string
	// CacheTTL is how long an answer is reused, never beyond the token's
	// expiry. It is also how long a revoked token may still be accepted.
	// Default 30s, at most 5m.
	CacheTTL time.Duration
}

// Defaults and limits of Config.
const (
	DefaultLeeway                 = 30 * time.Second
	MaxLeeway                     = 2 * time.Minute
	DefaultJWKSRefreshMinInterval = 30 * time.Second
	DefaultIntrospectionCacheTTL  = 30 * time.Second
	MaxIntrospectionCacheTTL      = 5 * time.Minute
)

// Validate reports the first invalid setting, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	if err := checkURL(c.Issuer); err != nil {
		return fmt.Errorf("%w: issuer: %w", ErrInvalidConfig, err)
	}
	if c.Audience == "" {
		return fmt.Errorf("%w: audience is required", ErrInvalidConfig)
	}
	if u, err := url.Parse(c.Audience); err != nil || !u.IsAbs() {
		return fmt.Errorf("%w: audience %q is not an absolute URI", ErrInvalidConfig, c.Audience)
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		return fmt.Errorf("%w: leeway %s is outside [0, %s]", ErrInvalidConfig, c.Leeway, MaxLeeway)
	}
	if c.JWKSRefreshMinInterval < 0 {
		return fmt.Errorf("%w: negative JWKS refresh interval", ErrInvalidConfig)
	}
	for _, a := range c.Algorithms {
		if !isAsymmetric(a) {
			return fmt.Errorf("%w: algorithm %q is not an allowed asymmetric algorithm", ErrInvalidConfig, a)
		}
	}
	if in := c.Introspection; in != nil {
		if in.ClientID == "" || in.ClientSecret == "" {
			return fmt.Errorf("%w: introspection needs a client ID and secret", ErrInvalidConfig)
		}
		if in.CacheTTL < 0 || in.CacheTTL > MaxIntrospectionCacheTTL {
			return fmt.Errorf("%w: introspection cache TTL %s is outside [0, %s]", ErrInvalidConfig, in.CacheTTL, MaxIntrospectionCacheTTL)
		}
	}
	return nil
}

// isAsymmetric reports whether Algorithms may name alg.
func isAsymmetric(alg string) bool {
	switch jose.SignatureAlgorithm(alg) {
	case jose.ES256, jose.ES384, jose.ES512,
		jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512,
		jose.EdDSA:
		return true
	}
	return false
}

// withDefaults returns c with every zero setting replaced by its default.
func (c Config) withDefaults() Config {
	if c.Realm == "" {
		c.Realm = c.Audience
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{string(jose.ES256), string(jose.RS256)}
	}
	if c.JWKSRefreshMinInterval == 0 {
		c.JWKSRefreshMinInterval = DefaultJWKSRefreshMinInterval
	}
	if c.Introspection != nil {
		in := *c.Introspection
		if in.CacheTTL == 0 {
			in.CacheTTL = DefaultIntrospectionCacheTTL
		}
		c.Introspection = &in
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// checkURL accepts https URLs, and http ones on a loopback host: tokens and
// keys fetched over plain http from elsewhere could be swapped in transit.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%q must be a plain URL with a host and no user info, query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: http is allowed on loopback hosts only", raw)
	default:
		return fmt.Errorf("%q: scheme must be https", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
