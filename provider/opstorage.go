package provider

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/provider/claims"
	"github.com/optibid/idp/storage"
)

// opStorage implements op.Storage (and the optional interfaces we use) on
// our storage. Its methods return *oidc.Error with fixed, safe descriptions;
// causes go to the log.
//
// Access-token IDs (jti) carry what the check needs without a lookup:
//
//	g.<grant ID>.<random>  a user's token, alive while its grant is
//	c.<random>             a client_credentials token (never stored)
type opStorage struct{ p *Provider }

var (
	_ op.Storage                   = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
)

type algKey struct{}

// withAlg selects the signing algorithm for this request's tokens: the
// engine asks storage for one signing key per token and passes nothing but
// the context.
func withAlg(ctx context.Context, alg string) context.Context {
	return context.WithValue(ctx, algKey{}, alg)
}

func (s *opStorage) now() time.Time { return s.p.now().UTC() }

// audit builds an event with the request's metadata.
func audit(ctx context.Context, typ manage.EventType, actor, subject, clientID string, details map[string]string) storage.AuditEvent {
	return manage.ActorCtx(ctx, actor, clientID).Event(time.Now(), typ, manage.About{Subject: subject, Details: details})
}

// internal logs err and returns server_error; our endpoints answer it
// with 503: a client must never discard a good token because our
// database blinked.
func internal(ctx context.Context, what string, err error) *oidc.Error {
	slog.ErrorContext(ctx, what, "error", err)
	return oidc.ErrServerError().WithDescription("temporarily unavailable")
}

// --- auth requests and codes ---

// CreateAuthRequest belongs to the engine's /authorize, which is not
// mounted: ours (authorize.go) stores requests itself.
func (s *opStorage) CreateAuthRequest(ctx context.Context, _ *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	return nil, notMounted(ctx)
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.p.store.AuthRequestByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	if err != nil {
		return nil, internal(ctx, "load auth request", err)
	}
	return &authRequest{AuthRequest: ar}, nil
}

// The engine's token, introspection and userinfo endpoints are not
// mounted (ours are: token.go, introspect.go), so the op.Storage methods
// only they call answer an internal error; they are here to satisfy the
// interface, not to be reached.

func (s *opStorage) AuthRequestByCode(ctx context.Context, _ string) (op.AuthRequest, error) {
	return nil, notMounted(ctx)
}

func (s *opStorage) SaveAuthCode(ctx context.Context, _, _ string) error { return notMounted(ctx) }

func (s *opStorage) CreateAccessToken(ctx context.Context, _ op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, notMounted(ctx)
}

func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, _ op.TokenRequest, _ string) (string, string, time.Time, error) {
	return "", "", time.Time{}, notMounted(ctx)
}

func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, _ string) (op.RefreshTokenRequest, error) {
	return nil, notMounted(ctx)
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, _ *oidc.UserInfo, _, _, _ string) error {
	return notMounted(ctx)
}

func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, _ *oidc.IntrospectionResponse, _, _, _ string) error {
	return notMounted(ctx)
}

func notMounted(ctx context.Context) *oidc.Error {
	return internal(ctx, "engine endpoint", errors.New("an engine endpoint that is not mounted was reached"))
}

// DeleteAuthRequest keeps the row: a redeemed request must outlive its
// redemption so that a replayed code finds, and revokes, its grant. The
// clean-up job removes it at expiry.
func (s *opStorage) DeleteAuthRequest(context.Context, string) error { return nil }

// --- tokens ---

// refreshExpiry: a refresh token lives RefreshTokenTTL, never past its
// family's absolute end.
func (s *opStorage) refreshExpiry(now, familyEnd time.Time) time.Time {
	exp := now.Add(s.p.cfg.RefreshTokenTTL)
	if exp.After(familyEnd) {
		return familyEnd
	}
	return exp
}

// GetRefreshTokenInfo and RevokeToken belong to the engine's revocation
// endpoint, which is not mounted (ours is revoke.go).
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, _, _ string) (string, string, error) {
	return "", "", notMounted(ctx)
}

func (s *opStorage) RevokeToken(ctx context.Context, _, _, _ string) *oidc.Error {
	return notMounted(ctx)
}

// TerminateSession is the engine's end_session hook. Our /end_session is
// served by package login (confirmation page, SSO session cookie), so the
// engine's handler is never mounted and this is unreachable.
func (s *opStorage) TerminateSession(ctx context.Context, _, _ string) error {
	return internal(ctx, "terminate session", errors.New("engine end_session is not mounted"))
}

// --- keys ---

func (s *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	alg, _ := ctx.Value(algKey{}).(string)
	if alg == "" {
		alg = s.p.cfg.SigningAlg
	}
	return s.p.keys.SigningKey(alg), nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.p.keys.Algorithms(), nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) { return s.p.keys.KeySet(), nil }

// --- clients ---

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.clients.get(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err != nil {
		return nil, internal(ctx, "load client", err)
	}
	return c, nil
}

func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if _, err := s.p.clients.authenticate(ctx, id, secret); err != nil {
		if errors.Is(err, errBadSecret) || errors.Is(err, storage.ErrNotFound) {
			return oidc.ErrInvalidClient().WithDescription("invalid client credentials")
		}
		return internal(ctx, "authenticate client", err)
	}
	return nil
}

// --- claims ---

// SetUserinfoFromScopes is called by the engine for every ID token, with
// no more than a user ID; the claims are set by SetUserinfoFromRequest,
// which has the user already loaded, so this adds nothing and costs no
// query.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	var u *storage.User
	var org storage.OrgRole
	switch r := req.(type) {
	case *authRequest:
		u, org = r.user, r.org
	case *refreshRequest:
		u, org = &r.User, r.Org
	}
	if u == nil {
		return internal(ctx, "userinfo from request", errors.New("no user on request"))
	}
	claims.Userinfo(info, *u, scopes)
	for k, v := range claims.ForIDToken(s.orgClaims(req.GetScopes(), org)) {
		info.AppendClaims(k, v)
	}
	return nil
}

var errInactive = oidc.ErrInvalidRequest().WithDescription("token inactive")

// activeUserToken returns the state of a live user access token.
func (s *opStorage) activeUserToken(ctx context.Context, jti string) (storage.AccessTokenState, error) {
	grantID, ok := grantOf(jti)
	if !ok || grantID == "" {
		return storage.AccessTokenState{}, errInactive
	}
	st, err := s.p.store.AccessTokenState(ctx, jti, grantID)
	if errors.Is(err, storage.ErrNotFound) {
		return st, errInactive
	}
	if err != nil {
		return st, internal(ctx, "access token state", err)
	}
	if st.Revoked || !st.Grant.Active(s.now()) || st.User.Disabled {
		return st, errInactive
	}
	return st, nil
}

// orgClaims are the organization claims the scopes ask for: org and
// permissions, and the compact entitlements.
func (s *opStorage) orgClaims(scopes []string, org storage.OrgRole) map[string]any {
	out := claims.Org(scopes, org)
	if ent := claims.Entitlements(scopes, s.p.entitlementsFor(org)); ent != nil {
		if out == nil {
			out = map[string]any{}
		}
		maps.Copy(out, ent)
	}
	return out
}

// GetPrivateClaimsFromScopes is unused: access tokens are minted by
// token.go.
func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves private_key_jwt and the JWT bearer grant,
// neither of which is enabled: no client has registered keys.
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrInvalidClient().WithDescription("no keys registered for this client")
}

// ValidateJWTProfileScopes serves the JWT bearer grant, which is disabled.
func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT bearer grant not supported")
}

func (s *opStorage) Health(ctx context.Context) error { return s.p.store.Ping(ctx) }
