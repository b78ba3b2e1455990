// Package federation is the contract between the login screens and
// upstream identity providers: a Connector sends the browser upstream and
// turns the answer into a verified Identity. Implementations live below
// (federation/oidc, with thin presets for Okta, Google, Azure AD and
// Auth0); they import this package, never the reverse.
package federation

import (
	"context"
	"errors"
)

// Identity is what a verified upstream ID token (plus userinfo) says about
// the user. Issuer and Subject identify them for good; everything else is
// profile data that may change and must never be used to link accounts on
// its own.
type Identity struct {
	Issuer        string
	Subject       string // for Azure AD: tid + ":" + oid
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	// AMR lists the upstream's authentication methods (RFC 8176), so that
	// an upstream MFA can satisfy a local MFA policy.
	AMR []string
}

// Request is one trip upstream: the values the connector must send and
// later check.
type Request struct {
	State         string
	Nonce         string
	CodeChallenge string // S256
	LoginHint     string
}

// Prober is a connector that can report what its upstream publishes: an
// admin's test of a connection before people depend on it.
type Prober interface {
	Probe(ctx context.Context) (Metadata, error)
}

// Metadata is what a probe found upstream.
type Metadata struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	UserinfoEndpoint      string
	JWKSURI               string
	ScopesSupported       []string
	// SigningKeys is how many keys the upstream's JWKS published.
	SigningKeys int
}

// Connector talks to one upstream identity provider.
type Connector interface {
	// AuthURL is where to send the browser.
	AuthURL(ctx context.Context, r Request) (string, error)
	// Exchange redeems the code and verifies the ID token: signature,
	// issuer, audience, expiry and nonce, plus any preset rule (tenant,
	// hosted domain). It fills missing email and profile from userinfo.
	Exchange(ctx context.Context, code, codeVerifier, nonce string) (Identity, error)
}

var (
	// ErrUpstream: the upstream failed, timed out or could not be reached.
	ErrUpstream = errors.New("federation: upstream unavailable")
	// ErrInvalidToken: the upstream's answer did not verify (signature,
	// issuer, audience, nonce, expiry).
	ErrInvalidToken = errors.New("federation: invalid upstream token")
	// ErrNotAllowed: the identity is valid but this connection does not
	// accept it (tenant or hosted domain not allowed).
	ErrNotAllowed = errors.New("federation: identity not allowed")
)
