package apiauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Errors of New and Verify. ErrExpired, ErrNotYetValid, ErrWrongIssuer,
// ErrWrongAudience and ErrInactive are kinds of ErrInvalidToken:
// errors.Is(err, ErrInvalidToken) holds for all of them.
var (
	// ErrInvalidToken: the token is malformed, badly signed, of the wrong
	// type, or fails a claim check. Answer 401.
	ErrInvalidToken = errors.New("invalid access token")
	// ErrExpired: exp is past, beyond the leeway.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrNotYetValid: nbf or iat is in the future, beyond the leeway.
	ErrNotYetValid = fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	// ErrWrongIssuer: iss is not the configured issuer.
	ErrWrongIssuer = fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	// ErrWrongAudience: aud does not contain the configured audience.
	ErrWrongAudience = fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	// ErrInactive: introspection says the token is no longer active
	// (revoked, or its session ended).
	ErrInactive = fmt.Errorf("%w: inactive", ErrInvalidToken)
	// ErrUnavailable: the issuer's discovery, JWKS or introspection
	// endpoint could not be reached or gave an unusable answer. Answer 503.
	ErrUnavailable = errors.New("token issuer unavailable")
	// ErrInvalidConfig: New was given an invalid Config, or the issuer's
	// discovery document does not match it.
	ErrInvalidConfig = errors.New("invalid apiauth configuration")
)

// maxTokenSize bounds what Verify parses. Our largest tokens (100 features
// with configuration) are well under it.
const maxTokenSize = 32 << 10

// maxDocumentSize bounds what is read from the issuer's endpoints.
const maxDocumentSize = 1 << 20

// Verifier verifies access tokens of one issuer for one audience. It is
// safe for concurrent use.
type Verifier struct {
	cfg        Config
	algs       []jose.SignatureAlgorithm
	keys       *keySet
	introspect *introspector // nil without Introspection
	log        *slog.Logger
}

// New validates cfg, then fetches the issuer's discovery document and JWKS
// with ctx so that a wrong issuer fails here. Network failures wrap
// ErrUnavailable; a discovery document naming another issuer, or lacking an
// introspection endpoint that cfg needs, wraps ErrInvalidConfig.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Verifier{cfg: cfg, log: cfg.Logger}
	for _, a := range cfg.Algorithms {
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}

	var meta struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	discovery := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, cfg.HTTPClient, discovery, &meta); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if meta.Issuer != cfg.Issuer {
		return nil, fmt.Errorf("%w: discovery at %s names issuer %q", ErrInvalidConfig, discovery, meta.Issuer)
	}
	if err := checkURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: discovery jwks_uri: %w", ErrInvalidConfig, err)
	}
	v.keys = newKeySet(meta.JWKSURI, cfg.HTTPClient, cfg.Now, cfg.JWKSRefreshMinInterval)
	if err := v.keys.init(ctx); err != nil {
		return nil, err
	}
	if in := cfg.Introspection; in != nil {
		if err := checkURL(meta.IntrospectionEndpoint); err != nil {
			return nil, fmt.Errorf("%w: discovery introspection_endpoint: %w", ErrInvalidConfig, err)
		}
		v.introspect = newIntrospector(meta.IntrospectionEndpoint, *in, cfg.HTTPClient, cfg.Now)
	}
	return v, nil
}

// Protect is the one-line setup: a Verifier with default settings for
// issuer and audience, returned as its Middleware.
func Protect(ctx context.Context, issuer, audience string) (func(http.Handler) http.Handler, error) {
	v, err := New(ctx, Config{Issuer: issuer, Audience: audience})
	if err != nil {
		return nil, err
	}
	return v.Middleware, nil
}

// Verify checks token (the compact JWS, without "Bearer ") and returns its
// claims. Every error wraps ErrInvalidToken or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (*Token, error) {
	if token == "" || len(token) > maxTokenSize {
		return nil, fmt.Errorf("%w: empty or oversized token", ErrInvalidToken)
	}
	// Compact serialization only; the algorithm list rejects "none", HS*
	// and everything else not configured before any key is looked at.
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt", ErrInvalidToken, typ)
	}
	if h.KeyID == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	candidates, err := v.keys.lookup(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range candidates {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if payload, err = jws.Verify(k); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, fmt.Errorf("%w: signature does not verify with key %q", ErrInvalidToken, h.KeyID)
	}

	tok, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(tok); err != nil {
		return nil, err
	}
	if v.introspect != nil {
		active, err := v.introspect.active(ctx, token, tok.Expiry)
		if err != nil {
			return nil, err
		}
		if !active {
			return nil, fmt.Errorf("%w: introspection answered active=false", ErrInactive)
		}
	}
	return tok, nil
}

// checkClaims applies the RFC 9068 §4 checks beyond the signature.
func (v *Verifier) checkClaims(t *Token) error {
	if t.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: %q", ErrWrongIssuer, t.Issuer)
	}
	if !slices.Contains(t.Audience, v.cfg.Audience) {
		return fmt.Errorf("%w: %q", ErrWrongAudience, t.Audience)
	}
	for _, c := range []struct {
		name    string
		missing bool
	}{
		{"sub", t.Subject == ""}, {"client_id", t.ClientID == ""}, {"jti", t.JWTID == ""},
		{"exp", t.Expiry.IsZero()}, {"iat", t.IssuedAt.IsZero()},
	} {
		if c.missing {
			return fmt.Errorf("%w: no %s claim", ErrInvalidToken, c.name)
		}
	}
	now, leeway := v.cfg.Now(), v.cfg.Leeway
	if !now.Before(t.Expiry.Add(leeway)) {
		return fmt.Errorf("%w at %s", ErrExpired, t.Expiry.UTC().Format(time.RFC3339))
	}
	if !t.NotBefore.IsZero() && now.Add(leeway).Before(t.NotBefore) {
		return fmt.Errorf("%w: nbf %s", ErrNotYetValid, t.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.Add(leeway).Before(t.IssuedAt) {
		return fmt.Errorf("%w: iat %s", ErrNotYetValid, t.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// getJSON GETs url into v. Every failure wraps ErrUnavailable: it is the
// issuer's, not the token's.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return decodeResponse(resp, url, v)
}

// decodeResponse reads a 200 JSON answer into v and closes its body.
func decodeResponse(resp *http.Response, url string, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocumentSize))
		return fmt.Errorf("%w: %s answered %s", ErrUnavailable, url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentSize)).Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, url, err)
	}
	return nil
}
