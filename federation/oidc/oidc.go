// Package oidc is the generic upstream OpenID Connect connector:
// discovery, authorization code with PKCE, nonce and state, ID-token
// verification, and a userinfo fallback when the ID token lacks email or
// profile. The provider presets (okta, google, azuread, auth0) are thin
// configurations of it.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/optibid/idp/federation"
)

// Config configures one upstream.
type Config struct {
	// Issuer is the upstream's issuer, whose discovery document is read.
	Issuer string
	// IssuerTemplate, when set, is what ID-token issuers must look like
	// instead of Issuer: "{tenantid}" stands for the token's tid claim
	// (Azure AD multi-tenant endpoints).
	IssuerTemplate string
	ClientID       string
	ClientSecret   string
	RedirectURL    string
	Scopes         []string // default openid email profile
	// GroupsClaim names the claim holding group names (default "groups").
	GroupsClaim string
	// Check, when set, applies a preset's rule to the verified claims
	// (hosted domain, tenant allow-list); it returns ErrNotAllowed.
	Check func(claims map[string]any) error
	// Adjust, when set, applies a preset's reading of the claims to the
	// identity (Azure AD: subject tid + ":" + oid, email never verified).
	Adjust func(claims map[string]any, id *federation.Identity)
	// AuthParams are extra authorization parameters (Google: hd).
	AuthParams map[string]string
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Connector implements federation.Connector for one upstream. Discovery
// happens on first use, not at start, so a down upstream never stops the
// provider from starting; a failed discovery is retried on the next use.
type Connector struct {
	cfg Config

	mu   sync.Mutex
	meta *zoidc.DiscoveryConfiguration
	keys zoidc.KeySet
}

var (
	_ federation.Connector = (*Connector)(nil)
	_ federation.Prober    = (*Connector)(nil)
)

// New validates cfg.
func New(cfg Config) (*Connector, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("federation/oidc: issuer, client_id and redirect URL are required")
	}
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid", "email", "profile"}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Connector{cfg: cfg}, nil
}

// checkIssuer accepts an absolute https URL without query or fragment
// (http only on this machine, for development and tests).
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("federation/oidc: issuer %q must be an absolute URL without query, fragment or user info", issuer)
	}
	local := u.Hostname() == "localhost"
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
		local = true
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && local) {
		return fmt.Errorf("federation/oidc: issuer %q must use https", issuer)
	}
	return nil
}

// discover reads the upstream's metadata once (under a bounded context).
func (c *Connector) discover(ctx context.Context) (*zoidc.DiscoveryConfiguration, zoidc.KeySet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.meta != nil {
		return c.meta, c.keys, nil
	}
	meta, err := c.fetchMeta(ctx)
	if err != nil {
		return nil, nil, err
	}
	c.meta, c.keys = meta, rp.NewRemoteKeySet(c.cfg.HTTPClient, meta.JwksURI)
	return c.meta, c.keys, nil
}

// Probe implements federation.Prober: it reads the discovery document and
// the JWKS afresh (not the cached copy, which may predate a fix
// upstream) and checks what a sign-in will need.
func (c *Connector) Probe(ctx context.Context) (federation.Metadata, error) {
	meta, err := c.fetchMeta(ctx)
	if err != nil {
		return federation.Metadata{}, err
	}
	found := federation.Metadata{Issuer: meta.Issuer, AuthorizationEndpoint: meta.AuthorizationEndpoint, TokenEndpoint: meta.TokenEndpoint,
		UserinfoEndpoint: meta.UserinfoEndpoint, JWKSURI: meta.JwksURI, ScopesSupported: meta.ScopesSupported}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, meta.JwksURI, nil)
	if err != nil {
		return found, fmt.Errorf("%w: jwks_uri: %w", federation.ErrUpstream, err)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return found, fmt.Errorf("%w: jwks: %w", federation.ErrUpstream, err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK {
		return found, fmt.Errorf("%w: jwks answered %d", federation.ErrUpstream, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil || len(set.Keys) == 0 {
		return found, fmt.Errorf("%w: the jwks holds no keys", federation.ErrUpstream)
	}
	found.SigningKeys = len(set.Keys)
	return found, nil
}

// fetchMeta reads and checks the discovery document.
func (c *Connector) fetchMeta(ctx context.Context) (*zoidc.DiscoveryConfiguration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", federation.ErrUpstream, err)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", federation.ErrUpstream, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: discovery answered %d", federation.ErrUpstream, resp.StatusCode)
	}
	var meta zoidc.DiscoveryConfiguration
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta); err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", federation.ErrUpstream, err)
	}
	if meta.AuthorizationEndpoint == "" || meta.TokenEndpoint == "" || meta.JwksURI == "" {
		return nil, fmt.Errorf("%w: discovery lacks endpoints", federation.ErrUpstream)
	}
	if c.cfg.IssuerTemplate == "" && strings.TrimSuffix(meta.Issuer, "/") != strings.TrimSuffix(c.cfg.Issuer, "/") {
		return nil, fmt.Errorf("%w: discovery issuer %q differs from %q", federation.ErrUpstream, meta.Issuer, c.cfg.Issuer)
	}
	return &meta, nil
}

func (c *Connector) oauth(meta *zoidc.DiscoveryConfiguration) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: c.cfg.RedirectURL, Scopes: c.cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint}}
}

// AuthURL implements federation.Connector.
func (c *Connector) AuthURL(ctx context.Context, r federation.Request) (string, error) {
	meta, _, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", r.Nonce),
		oauth2.SetAuthURLParam("code_challenge", r.CodeChallenge), oauth2.SetAuthURLParam("code_challenge_method", "S256")}
	if r.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", r.LoginHint))
	}
	for k, v := range c.cfg.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return c.oauth(meta).AuthCodeURL(r.State, opts...), nil
}

// clockSkew is the leeway on upstream token times.
const clockSkew = time.Minute

// Exchange implements federation.Connector.
func (c *Connector) Exchange(ctx context.Context, code, verifier, nonce string) (federation.Identity, error) {
	meta, keys, err := c.discover(ctx)
	if err != nil {
		return federation.Identity{}, err
	}
	tok, err := c.oauth(meta).Exchange(context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return federation.Identity{}, fmt.Errorf("%w: token endpoint refused the code: %w", federation.ErrInvalidToken, err)
		}
		return federation.Identity{}, fmt.Errorf("%w: token endpoint: %w", federation.ErrUpstream, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return federation.Identity{}, fmt.Errorf("%w: no id_token", federation.ErrInvalidToken)
	}
	claims, err := c.verify(ctx, raw, nonce, keys)
	if err != nil {
		return federation.Identity{}, err
	}
	id := identityFrom(claims, c.cfg.GroupsClaim)
	if c.cfg.Adjust != nil {
		c.cfg.Adjust(claims, &id)
	}
	if id.Subject == "" {
		return federation.Identity{}, fmt.Errorf("%w: no subject", federation.ErrInvalidToken)
	}
	if (id.Email == "" || id.Name == "") && meta.UserinfoEndpoint != "" {
		c.fillFromUserinfo(ctx, meta.UserinfoEndpoint, tok, &id, claims)
	}
	return id, nil
}

// verify checks the ID token the way OIDC Core §3.1.3.7 asks, with our own
// issuer rule (templated issuers for multi-tenant endpoints).
func (c *Connector) verify(ctx context.Context, raw, nonce string, keys zoidc.KeySet) (map[string]any, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", federation.ErrInvalidToken, fmt.Sprintf(format, a...))
	}
	claims := new(zoidc.IDTokenClaims)
	payload, err := zoidc.ParseToken(raw, claims)
	if err != nil {
		return nil, bad("parse: %v", err)
	}
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil {
		return nil, bad("claims: %v", err)
	}
	want := c.cfg.Issuer
	if c.cfg.IssuerTemplate != "" {
		tid, _ := all["tid"].(string)
		if tid == "" || strings.ContainsAny(tid, "/?#") {
			return nil, bad("no tenant in token")
		}
		want = strings.ReplaceAll(c.cfg.IssuerTemplate, "{tenantid}", tid)
	}
	if strings.TrimSuffix(claims.Issuer, "/") != strings.TrimSuffix(want, "/") {
		return nil, bad("issuer %q, want %q", claims.Issuer, want)
	}
	if err := zoidc.CheckAudience(claims, c.cfg.ClientID); err != nil {
		return nil, bad("audience: %v", err)
	}
	if len(claims.Audience) > 1 && claims.AuthorizedParty != c.cfg.ClientID {
		return nil, bad("azp %q", claims.AuthorizedParty)
	}
	if err := zoidc.CheckSignature(ctx, raw, payload, claims, []string{"RS256", "ES256", "PS256", "EdDSA"}, keys); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: keys: %w", federation.ErrUpstream, err)
		}
		return nil, bad("signature: %v", err)
	}
	if err := zoidc.CheckExpiration(claims, clockSkew); err != nil {
		return nil, bad("expired")
	}
	if err := zoidc.CheckIssuedAt(claims, 0, clockSkew); err != nil {
		return nil, bad("issued at: %v", err)
	}
	if nonce == "" || claims.Nonce != nonce {
		return nil, bad("nonce mismatch")
	}
	if c.cfg.Check != nil {
		if err := c.cfg.Check(all); err != nil {
			return nil, err
		}
	}
	return all, nil
}

func identityFrom(claims map[string]any, groupsClaim string) federation.Identity {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	id := federation.Identity{Issuer: str("iss"), Subject: str("sub"), Email: strings.ToLower(str("email")), Name: str("name")}
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = v == "true"
	}
	if gs, ok := claims[groupsClaim].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				id.Groups = append(id.Groups, s)
			}
		}
	}
	if amr, ok := claims["amr"].([]any); ok {
		for _, a := range amr {
			if s, ok := a.(string); ok {
				id.AMR = append(id.AMR, s)
			}
		}
	}
	return id
}

// fillFromUserinfo completes email and name from the userinfo endpoint,
// for the same subject only. A failure leaves the identity as it was.
func (c *Connector) fillFromUserinfo(ctx context.Context, endpoint string, tok *oauth2.Token, id *federation.Identity, claims map[string]any) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var info map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info) != nil {
		return
	}
	if sub, _ := info["sub"].(string); sub != claims["sub"] {
		return
	}
	u := identityFrom(info, c.cfg.GroupsClaim)
	if c.cfg.Adjust != nil {
		c.cfg.Adjust(info, &u)
	}
	if id.Email == "" {
		id.Email, id.EmailVerified = u.Email, u.EmailVerified
	}
	if id.Name == "" {
		id.Name = u.Name
	}
	if len(id.Groups) == 0 {
		id.Groups = u.Groups
	}
}

// HostedDomainCheck is Google's rule: the hd claim (not the email) must
// name the domain.
func HostedDomainCheck(domain string) func(map[string]any) error {
	return func(c map[string]any) error {
		if hd, _ := c["hd"].(string); !strings.EqualFold(hd, domain) {
			return fmt.Errorf("%w: hosted domain %q", federation.ErrNotAllowed, hd)
		}
		return nil
	}
}

// TenantCheck is Azure AD's multi-tenant rule: tid must be allowed.
func TenantCheck(allowed []string) func(map[string]any) error {
	return func(c map[string]any) error {
		if tid, _ := c["tid"].(string); !slices.Contains(allowed, tid) {
			return fmt.Errorf("%w: tenant %q", federation.ErrNotAllowed, tid)
		}
		return nil
	}
}
