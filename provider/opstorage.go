package provider

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
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
	_ op.Storage                        = (*opStorage)(nil)
	_ op.ClientCredentialsStorage       = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*opStorage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*opStorage)(nil)
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
func audit(ctx context.Context, typ, actor, subject, clientID string, details map[string]string) storage.AuditEvent {
	return storage.AuditEvent{Type: typ, Time: time.Now().UTC(), ActorID: actor, SubjectID: subject, ClientID: clientID,
		IP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx), Details: details}
}

// internal logs err, marks the request as failed on our side, and returns
// server_error. The engine re-wraps some storage errors (a failed refresh
// lookup becomes invalid_grant, a failed introspection active=false), so
// the mark, not the error type, is what the response filter trusts to
// answer 503: a client must never discard a good token because our
// database blinked.
func internal(ctx context.Context, what string, err error) *oidc.Error {
	slog.ErrorContext(ctx, what, "error", err)
	if f, ok := ctx.Value(failureKey{}).(*failure); ok {
		f.set()
	}
	return oidc.ErrServerError().WithDescription("temporarily unavailable")
}

type failureKey struct{}

// failure records, per request, that storage failed underneath the engine.
type failure struct {
	mu     sync.Mutex
	failed bool
}

func (f *failure) set() { f.mu.Lock(); f.failed = true; f.mu.Unlock() }

func (f *failure) get() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }

// --- auth requests and codes ---

// CreateAuthRequest is reached through our /authorize handler only.
func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	now := s.now()
	ar := storage.AuthRequest{
		ID: random.ID(), ClientID: req.ClientID, RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce,
		Scopes: req.Scopes, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt: req.Prompt, LoginHint: req.LoginHint, HintSubject: hintSubject, ACRValues: req.ACRValues,
		BrowserHash: browserHashFrom(ctx), CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.AuthRequestTTL),
	}
	ar.Connection, _ = ctx.Value(connectionKey{}).(string)
	ar.OrgRequest, _ = ctx.Value(orgKey{}).(string)
	for _, l := range req.UILocales {
		ar.UILocales = append(ar.UILocales, l.String())
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		ar.MaxAge = &v
	}
	if err := s.p.store.CreateAuthRequest(ctx, ar); err != nil {
		return nil, internal(ctx, "create auth request", err)
	}
	return &authRequest{AuthRequest: ar}, nil
}

type browserKey struct{}

type connectionKey struct{}

func withBrowserHash(ctx context.Context, h string) context.Context {
	return context.WithValue(ctx, browserKey{}, h)
}

func browserHashFrom(ctx context.Context) string { s, _ := ctx.Value(browserKey{}).(string); return s }

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

// AuthRequestByCode redeems the code: single use is enforced by the store,
// which also revokes the first redemption's tokens when a code comes back.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.now()
	grantID := random.ID()
	ar, err := s.p.store.RedeemCode(ctx, storage.HashSecret(code), grantID, now.Add(s.p.cfg.RefreshFamilyTTL), now,
		audit(ctx, "code_redeemed", "", "", "", map[string]string{"grant_id": grantID}),
		audit(ctx, "code_replayed", "", "", "", nil))
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		s.p.metrics.codeReplays.Inc()
		return nil, oidc.ErrInvalidGrant().WithDescription("code already used")
	case errors.Is(err, storage.ErrExpired):
		return nil, oidc.ErrInvalidGrant().WithDescription("code expired")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	case err != nil:
		return nil, internal(ctx, "redeem code", err)
	}
	u, err := s.p.store.UserByID(ctx, ar.UserID)
	if err != nil {
		return nil, internal(ctx, "load user", err)
	}
	if u.Disabled {
		_ = s.p.store.RevokeGrant(ctx, grantID, now, storage.AuditEvent{})
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	req := &authRequest{AuthRequest: ar, user: &u}
	if ar.OrgID != "" {
		st, err := s.p.store.AccessTokenState(ctx, "", grantID) // the grant's organization and the user's role, in one query
		if err != nil {
			return nil, internal(ctx, "load organization", err)
		}
		req.org = st.Org
	}
	return req, nil
}

// SaveAuthCode is not used: our callback mints codes itself.
func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.p.store.SaveAuthCode(ctx, id, storage.HashSecret(code), s.now().Add(s.p.cfg.CodeTTL))
}

// DeleteAuthRequest keeps the row: a redeemed request must outlive its
// redemption so that a replayed code finds, and revokes, its grant. The
// clean-up job removes it at expiry.
func (s *opStorage) DeleteAuthRequest(context.Context, string) error { return nil }

// --- tokens ---

func (s *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	exp := s.now().Add(s.p.cfg.AccessTokenTTL)
	switch r := req.(type) {
	case *clientCredentialsRequest:
		s.p.metrics.clientCredentials.WithLabelValues(r.clientID).Inc()
		s.p.metrics.tokens.WithLabelValues("client_credentials").Inc()
		return "c." + random.Token(16), exp, nil
	case *authRequest:
		s.p.metrics.tokens.WithLabelValues("authorization_code").Inc()
		return "g." + r.GrantID + "." + random.Token(12), exp, nil
	}
	return "", time.Time{}, internal(ctx, "create access token", errors.New("unexpected request type"))
}

func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.p.cfg.AccessTokenTTL)
	newToken := random.Token(32)
	switch r := req.(type) {
	case *authRequest: // first refresh token of a code redemption
		rt := storage.RefreshToken{Hash: storage.HashSecret(newToken), GrantID: r.GrantID, ClientID: r.ClientID,
			UserID: r.UserID, Scopes: r.Scopes, AuthTime: r.AuthTime, AMR: r.AMR, CreatedAt: now,
			ExpiresAt: s.refreshExpiry(now, now.Add(s.p.cfg.RefreshFamilyTTL))}
		// When a replay of this code revoked the grant meanwhile, the token
		// is stored dead: the one legitimate redemption still gets its
		// answer (CHECKS #28), and nothing in it works.
		if err := s.p.store.IssueRefreshToken(ctx, rt, now, storage.AuditEvent{}); err != nil {
			return "", "", time.Time{}, internal(ctx, "issue refresh token", err)
		}
		s.p.metrics.tokens.WithLabelValues("authorization_code").Inc()
		return "g." + r.GrantID + "." + random.Token(12), newToken, exp, nil
	case *refreshRequest:
		next := storage.RefreshToken{Hash: storage.HashSecret(newToken), ClientID: r.Token.ClientID, UserID: r.Token.UserID,
			Scopes: r.scopes, AuthTime: r.Token.AuthTime, AMR: r.Token.AMR, CreatedAt: now,
			ExpiresAt: s.refreshExpiry(now, r.Grant.ExpiresAt)}
		err := s.p.store.RotateRefreshToken(ctx, storage.HashSecret(current), next, now,
			audit(ctx, "token_refreshed", r.Token.UserID, "", r.Token.ClientID, map[string]string{"grant_id": r.Grant.ID}),
			audit(ctx, "refresh_token_reuse", "", r.Token.UserID, r.Token.ClientID, map[string]string{"grant_id": r.Grant.ID}))
		switch {
		case errors.Is(err, storage.ErrAlreadyUsed):
			s.p.metrics.refreshReuse.Inc()
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
		case errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
		case err != nil:
			return "", "", time.Time{}, internal(ctx, "rotate refresh token", err)
		}
		s.p.metrics.tokens.WithLabelValues("refresh_token").Inc()
		return "g." + r.Grant.ID + "." + random.Token(12), newToken, exp, nil
	}
	return "", "", time.Time{}, internal(ctx, "create tokens", errors.New("unexpected request type"))
}

// refreshExpiry: a refresh token lives RefreshTokenTTL, never past its
// family's absolute end.
func (s *opStorage) refreshExpiry(now, familyEnd time.Time) time.Time {
	exp := now.Add(s.p.cfg.RefreshTokenTTL)
	if exp.After(familyEnd) {
		return familyEnd
	}
	return exp
}

// TokenRequestByRefreshToken loads a refresh token for the refresh grant.
// A token that was already rotated is reuse: the family is revoked here.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	st, err := s.p.store.RefreshTokenByHash(ctx, storage.HashSecret(token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	if err != nil {
		return nil, internal(ctx, "load refresh token", err)
	}
	now := s.now()
	if !st.Token.UsedAt.IsZero() {
		s.p.metrics.refreshReuse.Inc()
		if st.Grant.RevokedAt.IsZero() {
			if err := s.p.store.RevokeGrant(ctx, st.Grant.ID, now, audit(ctx, "refresh_token_reuse", "", st.Token.UserID,
				st.Token.ClientID, map[string]string{"grant_id": st.Grant.ID})); err != nil {
				return nil, internal(ctx, "revoke family", err)
			}
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
	}
	if !st.Grant.Active(now) || !now.Before(st.Token.ExpiresAt) || st.User.Disabled || st.User.Locked(now) {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	return &refreshRequest{RefreshTokenState: st, scopes: slices.Clone(st.Token.Scopes)}, nil
}

// GetRefreshTokenInfo serves revocation: it answers for refresh tokens of
// the calling client only.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	st, err := s.p.store.RefreshTokenByHash(ctx, storage.HashSecret(token))
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", internal(ctx, "load refresh token", err)
	}
	if st.Token.ClientID != clientID {
		return st.Token.UserID, foreignToken, nil
	}
	return st.Token.UserID, "rt." + st.Grant.ID, nil
}

// foreignToken marks a token that belongs to another client.
const foreignToken = "foreign"

// RevokeToken revokes a refresh token's family or one access token, after
// checking that the token belongs to the calling client (RFC 7009 §2.1).
// Unknown tokens succeed silently, as RFC 7009 requires; storage failures
// fail (503), never pretend success.
func (s *opStorage) RevokeToken(ctx context.Context, token, subject, clientID string) *oidc.Error {
	now := s.now()
	switch {
	case token == foreignToken:
		return oidc.ErrUnauthorizedClient().WithDescription("token was issued to another client")
	case strings.HasPrefix(token, "rt."):
		grantID := strings.TrimPrefix(token, "rt.")
		err := s.p.store.RevokeGrant(ctx, grantID, now, audit(ctx, "token_revoked", clientID, subject, clientID,
			map[string]string{"grant_id": grantID, "token_type": "refresh_token"}))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return internal(ctx, "revoke grant", err)
		}
		return nil
	}
	grantID, ok := grantOf(token)
	if !ok {
		return nil // not one of our access tokens
	}
	if grantID == "" {
		if subject != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("token was issued to another client")
		}
	} else {
		st, err := s.p.store.AccessTokenState(ctx, token, grantID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return internal(ctx, "load token state", err)
		}
		if st.Grant.ClientID != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("token was issued to another client")
		}
	}
	err := s.p.store.RevokeAccessToken(ctx, token, now.Add(s.p.cfg.AccessTokenTTL), audit(ctx, "token_revoked", clientID,
		subject, clientID, map[string]string{"token_type": "access_token"}))
	if err != nil {
		return internal(ctx, "revoke access token", err)
	}
	return nil
}

// grantOf parses a jti: ("", true) for client-credentials tokens, (grant,
// true) for user tokens, false for anything else.
func grantOf(jti string) (string, bool) {
	switch {
	case strings.HasPrefix(jti, "c.") && len(jti) > 2:
		return "", true
	case strings.HasPrefix(jti, "g."):
		rest := jti[2:]
		i := strings.IndexByte(rest, '.')
		if i <= 0 {
			return "", false
		}
		return rest[:i], true
	}
	return "", false
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

func (s *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.p.clients.authenticate(ctx, id, secret)
	if err != nil {
		if errors.Is(err, errBadSecret) || errors.Is(err, storage.ErrNotFound) {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid client credentials")
		}
		return nil, internal(ctx, "authenticate client", err)
	}
	return c, nil // the engine checks the grant type next (unauthorized_client)
}

func (s *opStorage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.p.clients.get(ctx, id)
	if err != nil {
		return nil, internal(ctx, "load client", err)
	}
	for _, sc := range scopes {
		if !c.IsScopeAllowed(sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope not allowed for this client")
		}
	}
	return &clientCredentialsRequest{clientID: id, scopes: scopes}, nil
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

// SetUserinfoFromToken serves /userinfo for a verified JWT access token:
// one round trip checks revocation and loads grant and user.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	st, err := s.activeUserToken(ctx, tokenID)
	if err != nil {
		return err
	}
	claims.Userinfo(info, st.User, st.Grant.Scopes)
	for k, v := range s.orgClaims(st.Grant.Scopes, st.Org) {
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

// SetIntrospectionFromToken answers RFC 7662 for the client the token was
// issued to; any other caller learns only active=false.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	grantID, ok := grantOf(tokenID)
	if !ok {
		return errInactive
	}
	if grantID == "" { // client credentials: the subject is the client
		if subject != clientID {
			return errInactive
		}
		st, err := s.p.store.AccessTokenState(ctx, tokenID, "")
		if err != nil {
			return internal(ctx, "access token state", err)
		}
		if st.Revoked {
			return errInactive
		}
		resp.Subject, resp.ClientID, resp.Audience = subject, subject, []string{subject}
		resp.TokenType, resp.JWTID = oidc.BearerToken, tokenID
		return nil
	}
	st, err := s.activeUserToken(ctx, tokenID)
	if err != nil {
		return err
	}
	if st.Grant.ClientID != clientID {
		return errInactive
	}
	claims.Introspection(resp, st.User, st.Grant, tokenID)
	if extra := claims.Org(st.Grant.Scopes, st.Org); extra != nil {
		if resp.Claims == nil {
			resp.Claims = map[string]any{}
		}
		for k, v := range extra {
			resp.Claims[k] = v
		}
		// Introspection gets the full set: every enabled feature with its
		// configuration.
		if slices.Contains(st.Grant.Scopes, claims.ScopeEntitlements) {
			resp.Claims["entitlements"] = s.p.entitlementsFor(st.Org)
		}
	}
	return nil
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

// GetPrivateClaimsFromScopes is unused: GetPrivateClaimsFromRequest wins.
func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest adds the RFC 9068 `scope` claim to access
// tokens.
func (s *opStorage) GetPrivateClaimsFromRequest(_ context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	out := map[string]any{}
	if sc := req.GetScopes(); len(sc) > 0 {
		out["scope"] = strings.Join(sc, " ")
	}
	var org storage.OrgRole
	switch r := req.(type) {
	case *authRequest:
		org = r.org
	case *refreshRequest:
		org = r.Org
	}
	for k, v := range s.orgClaims(req.GetScopes(), org) {
		out[k] = v
	}
	return out, nil
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
