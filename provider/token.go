package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"go.opentelemetry.io/otel/attribute"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/internal/telemetry"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/provider/claims"
	"github.com/optibid/idp/storage"
)

// The token endpoint is ours, not the engine's: the client is
// authenticated before anything else is looked at, a code is redeemed only
// when client, redirect_uri and PKCE verifier all match (a forged request
// cannot burn it), and access tokens are RFC 9068 JWTs for the APIs the
// request is for.

// Token-exchange identifiers (RFC 8693).
const (
	grantTokenExchange   = registration.GrantTokenExchange
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// tokenSingleValued are the token parameters that must not repeat.
var tokenSingleValued = []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
	"client_id", "client_secret", "subject_token", "subject_token_type", "requested_token_type", "actor_token"}

// pkceVerifier is RFC 7636 §4.1: 43–128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// tokenResponse is RFC 6749 §5.1 (and RFC 8693 §2.2.1).
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
}

// oauthError is the RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, e oauthError) {
	httpx.NoStore(w)
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// oauthFailure is an error answer of the token, introspection and userinfo
// endpoints (RFC 6749 §5.2 codes, RFC 8707 invalid_target included).
type oauthFailure struct{ code, desc string }

// oauthErr builds an error answer.
func oauthErr(code, desc string) *oauthFailure { return &oauthFailure{code, desc} }

// serverFailure logs a failure of ours (see internal) and answers 503.
func serverFailure(ctx context.Context, what string, err error) *oauthFailure {
	internal(ctx, what, err)
	return &oauthFailure{code: "server_error"}
}

// liveUserToken is activeUserToken for our own endpoints: (state, nil),
// (_, nil-state and inactive=true), or a failure of ours.
func (p *Provider) liveUserToken(ctx context.Context, jti string) (storage.AccessTokenState, bool, *oauthFailure) {
	st, err := p.storage.activeUserToken(ctx, jti)
	switch {
	case err == nil:
		return st, true, nil
	case errors.Is(err, errInactive):
		return st, false, nil
	}
	return st, false, &oauthFailure{code: "server_error"} // logged by internal
}

// writeErr writes a failure as RFC 6749 JSON: server errors become 503
// (the cause is already logged), client authentication failures 401.
func (p *Provider) writeErr(w http.ResponseWriter, err *oauthFailure) {
	status := http.StatusBadRequest
	e := oauthError{err.code, cleanDescription(err.desc)}
	switch err.code {
	case "server_error":
		status, e = http.StatusServiceUnavailable, oauthError{"temporarily_unavailable", "The service is temporarily unavailable. Try again shortly."}
	case "invalid_client":
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`", error="invalid_client"`)
	}
	writeOAuthError(w, status, e)
}

// clientRequest starts every client-authenticated endpoint (token,
// introspection, revocation): the form is read, none of single repeats,
// and the client is authenticated before anything else is looked at; a
// limited endpoint then charges the client's bucket. On false the answer
// is written.
func (p *Provider) clientRequest(w http.ResponseWriter, r *http.Request, limited bool, single ...string) (context.Context, *client, bool) {
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	if err := r.ParseForm(); err != nil {
		p.writeErr(w, oauthErr("invalid_request", "the request body could not be read"))
		return ctx, nil, false
	}
	for _, k := range single {
		if len(r.PostForm[k]) > 1 {
			p.writeErr(w, oauthErr("invalid_request", "parameter "+k+" is repeated"))
			return ctx, nil, false
		}
	}
	c, oerr := p.authenticateClient(ctx, r)
	if oerr != nil {
		p.writeErr(w, oerr)
		return ctx, nil, false
	}
	// A public client "authenticates" with its ID alone, so anyone could
	// spend its bucket: public clients are not limited per client (the
	// in-flight cap still holds).
	if limited && !c.Public() {
		if ok, after := p.admission.allow(c.ID); !ok {
			tooMany(w, after)
			return ctx, nil, false
		}
	}
	return ctx, c, true
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx, c, ok := p.clientRequest(w, r, true, tokenSingleValued...)
	if !ok {
		return
	}
	var oerr *oauthFailure
	grant := r.PostForm.Get("grant_type")
	var resp *tokenResponse
	var answered func(written bool) // a code exchange's: told whether its answer went out
	switch {
	case grant == "":
		oerr = oauthErr("invalid_request", "grant_type is required")
	case !slices.Contains(c.Client.GrantTypes, grant):
		if slices.Contains([]string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken),
			string(oidc.GrantTypeClientCredentials), grantTokenExchange}, grant) {
			oerr = oauthErr("unauthorized_client", "the client may not use this grant type")
		} else {
			oerr = oauthErr("unsupported_grant_type", "grant type not supported")
		}
	case grant == string(oidc.GrantTypeCode):
		var told func(bool)
		resp, told, oerr = p.codeGrant(ctx, c, r.PostForm)
		answered = onceBool(told)
		defer answered(false) // without an answer (a panic); once told, a no-op
	case grant == string(oidc.GrantTypeRefreshToken):
		resp, oerr = p.refreshGrant(ctx, c, r.PostForm)
	case grant == string(oidc.GrantTypeClientCredentials):
		resp, oerr = p.clientCredentialsGrant(ctx, c, r.PostForm)
	case grant == grantTokenExchange:
		resp, oerr = p.exchangeGrant(ctx, c, r.PostForm)
	default:
		oerr = oauthErr("unsupported_grant_type", "grant type not supported")
	}
	if oerr != nil {
		p.writeErr(w, oerr)
		return // a code exchange is told "not written" by its deferred call
	}
	body, err := json.Marshal(resp)
	if err != nil {
		p.writeErr(w, serverFailure(ctx, "encode token response", err))
		return
	}
	httpx.NoStore(w)
	w.Header().Set("Content-Type", "application/json")
	if answered == nil {
		_, _ = w.Write(body) // net/http sends it, with its length, when we return
		return
	}
	// Only a code exchange needs to know that its answer reached the
	// socket: it flushes, its length set so the answer is not chunked.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if _, err = w.Write(body); err == nil {
		err = http.NewResponseController(w).Flush()
	}
	// A writer that cannot flush has taken the answer as far as it can.
	answered(err == nil || errors.Is(err, http.ErrNotSupported))
}

// authenticateClient identifies and authenticates the caller of the token,
// introspection and revocation endpoints: client_secret_basic or
// client_secret_post for confidential clients, client_id alone for public
// ones. Using two methods at once is refused (RFC 6749 §2.3).
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request) (*client, *oauthFailure) {
	form := r.PostForm
	if form.Get("client_assertion") != "" || form.Get("client_assertion_type") != "" {
		return nil, oauthErr("invalid_client", "client assertions are not supported")
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || form.Has("client_secret") || form.Has("client_id") && form.Get("client_id") != id {
			return nil, oauthErr("invalid_client", "invalid client credentials")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, oauthErr("invalid_client", "client authentication is required")
	}
	c, err := p.clients.get(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, oauthErr("invalid_client", "invalid client credentials")
	case err != nil:
		return nil, serverFailure(ctx, "load client", err)
	case c.Public():
		if secret != "" || basic {
			return nil, oauthErr("invalid_client", "invalid client credentials")
		}
		httpx.NoteClient(ctx, c.ID)
		return c, nil
	}
	if _, err := p.clients.authenticate(ctx, id, secret); err != nil {
		if errors.Is(err, errBadSecret) || errors.Is(err, storage.ErrNotFound) {
			return nil, oauthErr("invalid_client", "invalid client credentials")
		}
		return nil, serverFailure(ctx, "authenticate client", err)
	}
	httpx.NoteClient(ctx, c.ID)
	return c, nil
}

// onceBool passes on only the first call.
func onceBool(f func(bool)) func(bool) {
	var once sync.Once
	return func(v bool) { once.Do(func() { f(v) }) }
}

// codeGrant redeems an authorization code (RFC 6749 §4.1.3, RFC 7636).
// answered must be told whether the answer was written: the exchange
// holds the code's claim until then, and a written answer is never
// retried (storage.LostAnswer).
func (p *Provider) codeGrant(ctx context.Context, c *client, form url.Values) (_ *tokenResponse, answered func(written bool), _ *oauthFailure) {
	answered = func(bool) {}
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" || redirectURI == "" {
		return nil, answered, oauthErr("invalid_request", "code and redirect_uri are required")
	}
	challenge := ""
	if verifier != "" {
		if !pkceVerifier.MatchString(verifier) {
			return nil, answered, oauthErr("invalid_grant", "invalid code_verifier")
		}
		sum := sha256.Sum256([]byte(verifier))
		challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	} else if c.Public() {
		return nil, answered, oauthErr("invalid_grant", "code_verifier is required")
	}
	codeHash := storage.HashSecret(code)
	now := p.now().UTC()
	grantID := random.ID()
	claimed := false
	if p.cfg.CodeGrace > 0 {
		release, ok, err := p.store.ClaimCode(ctx, codeHash)
		if err != nil {
			return nil, answered, serverFailure(ctx, "claim code", err)
		}
		if claimed = ok; claimed {
			// A panic before answered is handed back still ends the claim
			// (token ends it after that). Not the request's context: a
			// client that half-closes its side cancels that while the
			// exchange still answers.
			defer func() {
				if r := recover(); r != nil {
					release()
					panic(r)
				}
			}()
			answered = p.codeAnswered(ctx, codeHash, grantID, now, release)
		}
	}
	binding := storage.CodeBinding{ClientID: c.ID, RedirectURI: redirectURI, CodeChallenge: challenge}
	resp, oerr := p.redeemCode(ctx, c, form, code, codeHash, binding, grantID, claimed, now)
	return resp, answered, oerr
}

// codeAnswered ends a code exchange's claim once told whether its answer
// went out, having recorded an answer that did. It runs after the answer,
// so it reads nothing the client's next request may change: the record
// carries the exchange's own time, at.
func (p *Provider) codeAnswered(ctx context.Context, codeHash, grantID string, at time.Time, release func()) func(written bool) {
	return func(written bool) {
		if !written {
			release()
			return
		}
		// Record it whatever the client does now and whatever the request
		// spent.
		err := p.store.CodeDelivered(storage.Unbudgeted(context.WithoutCancel(ctx)), codeHash, grantID, at)
		if err == nil {
			release()
			return
		}
		// Unrecorded, the answer would look lost: hold the claim until no
		// retry could be taken any more (fail closed; a second more for
		// replicas' clocks).
		internal(ctx, "record code delivery", err)
		time.AfterFunc(p.cfg.CodeGrace+time.Second, release)
	}
}

// redeemCode is codeGrant past the checks of the request: the code is
// redeemed (under its claim when claimed) and the tokens issued.
func (p *Provider) redeemCode(ctx context.Context, c *client, form url.Values, code, codeHash string, binding storage.CodeBinding,
	grantID string, claimed bool, now time.Time) (*tokenResponse, *oauthFailure) {
	ev := audit(ctx, manage.EventCodeRedeemed, "", "", c.ID, map[string]string{"grant_id": grantID})
	replayEv := audit(ctx, manage.EventCodeReplayed, "", "", c.ID, nil)
	expires := now.Add(p.cfg.RefreshFamilyTTL)
	var ar storage.AuthRequest
	var err error
	if claimed {
		ar, err = p.store.RedeemClaimedCode(ctx, codeHash, binding, grantID, expires, now, p.cfg.CodeGrace, ev, replayEv)
	} else {
		ar, err = p.store.RedeemCode(ctx, codeHash, binding, grantID, expires, now, ev, replayEv)
	}
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		p.metrics.codeReplays.Inc()
		return nil, oauthErr("invalid_grant", "code already used")
	case errors.Is(err, storage.ErrExpired):
		return nil, oauthErr("invalid_grant", "code expired")
	case errors.Is(err, storage.ErrMismatch):
		return nil, oauthErr("invalid_grant", "the code was not issued to this client, redirect_uri or code_verifier")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oauthErr("invalid_grant", "invalid code")
	case err != nil:
		return nil, serverFailure(ctx, "redeem code", err)
	}
	u, err := p.store.UserByID(ctx, ar.UserID)
	if err != nil {
		return nil, serverFailure(ctx, "load user", err)
	}
	if u.Disabled || u.Locked(now) {
		_ = p.store.RevokeGrant(ctx, grantID, now, storage.AuditEvent{})
		return nil, oauthErr("invalid_grant", "invalid code")
	}
	req := &authRequest{AuthRequest: ar, user: &u}
	if ar.OrgID != "" {
		st, err := p.store.AccessTokenState(ctx, "", grantID) // the grant's organization and the user's role, in one query
		if err != nil {
			return nil, serverFailure(ctx, "load organization", err)
		}
		req.org = st.Org
	}
	aud, oerr := narrowTargets(form["resource"], ar.Resources)
	if oerr != nil {
		return nil, oerr
	}
	at := p.userToken(c, u.ID, grantID, ar.Scopes, aud, ar.AuthTime, ar.AMR, req.org, nil)
	resp, oerr := p.issue(ctx, c, at)
	if oerr != nil {
		return nil, oerr
	}
	if slices.Contains(ar.Scopes, oidc.ScopeOfflineAccess) && c.hasGrant(oidc.GrantTypeRefreshToken) {
		rt := random.Token(32)
		// When a replay of this code revoked the grant meanwhile, the token
		// is stored dead: the one legitimate redemption still gets its
		// answer (CHECKS #28), and nothing in it works.
		if err := p.store.IssueRefreshToken(ctx, storage.RefreshToken{Hash: storage.HashSecret(rt), GrantID: grantID, ClientID: c.ID,
			UserID: u.ID, Scopes: ar.Scopes, AuthTime: ar.AuthTime, AMR: ar.AMR, CreatedAt: now,
			ExpiresAt: p.storage.refreshExpiry(now, now.Add(p.cfg.RefreshFamilyTTL))}, now, storage.AuditEvent{}); err != nil {
			return nil, serverFailure(ctx, "issue refresh token", err)
		}
		resp.RefreshToken = rt
	}
	if slices.Contains(ar.Scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = p.idToken(ctx, c, req, resp.AccessToken, code); err != nil {
			return nil, serverFailure(ctx, "id token", err)
		}
	}
	p.metrics.issued("authorization_code", at)
	return resp, nil
}

// narrowTargets applies the resource parameters of a token request to
// what the grant allows (RFC 8707 §2.2): a subset, or all when none.
func narrowTargets(requested, granted []string) ([]string, *oauthFailure) {
	if len(requested) == 0 {
		return granted, nil
	}
	for _, r := range requested {
		if !slices.Contains(granted, r) {
			return nil, oauthErr("invalid_target", "resource was not granted")
		}
	}
	out := slices.Clone(requested)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// refreshGrant rotates a refresh token (RFC 6749 §6): the client is
// checked before the token is judged, so another client presenting a
// stolen, already rotated token does not revoke the family.
func (p *Provider) refreshGrant(ctx context.Context, c *client, form url.Values) (*tokenResponse, *oauthFailure) {
	current := form.Get("refresh_token")
	if current == "" {
		return nil, oauthErr("invalid_request", "refresh_token is required")
	}
	st, err := p.store.RefreshTokenByHash(ctx, storage.HashSecret(current))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oauthErr("invalid_grant", "invalid refresh token")
	}
	if err != nil {
		return nil, serverFailure(ctx, "load refresh token", err)
	}
	if st.Token.ClientID != c.ID {
		return nil, oauthErr("invalid_grant", "invalid refresh token")
	}
	now := p.now().UTC()
	// A used token is reuse, except just after its use: then it may be the
	// client's retry of a refresh whose answer was lost, which the store
	// tells apart (the successor still unused) when it rotates.
	if !st.Token.UsedAt.IsZero() && now.Sub(st.Token.UsedAt) >= max(p.cfg.RefreshGrace, 0) {
		p.metrics.refreshReuse.Inc()
		if st.Grant.RevokedAt.IsZero() {
			if err := p.store.RevokeGrant(ctx, st.Grant.ID, now, audit(ctx, manage.EventRefreshTokenReuse, "", st.Token.UserID,
				st.Token.ClientID, map[string]string{"grant_id": st.Grant.ID})); err != nil {
				return nil, serverFailure(ctx, "revoke family", err)
			}
		}
		return nil, oauthErr("invalid_grant", "refresh token already used")
	}
	if !st.Grant.Active(now) || !now.Before(st.Token.ExpiresAt) || st.User.Disabled || st.User.Locked(now) {
		return nil, oauthErr("invalid_grant", "invalid refresh token")
	}
	scopes := slices.Clone(st.Token.Scopes)
	if s := form.Get("scope"); s != "" {
		scopes = strings.Fields(s)
		for _, sc := range scopes {
			if !slices.Contains(st.Token.Scopes, sc) {
				return nil, oauthErr("invalid_scope", "scope exceeds the original grant")
			}
		}
	}
	aud, oerr := narrowTargets(form["resource"], st.Grant.Resources)
	if oerr != nil {
		return nil, oerr
	}
	rt := random.Token(32)
	next := storage.RefreshToken{Hash: storage.HashSecret(rt), ClientID: st.Token.ClientID, UserID: st.Token.UserID,
		Scopes: scopes, AuthTime: st.Token.AuthTime, AMR: st.Token.AMR, CreatedAt: now,
		ExpiresAt: p.storage.refreshExpiry(now, st.Grant.ExpiresAt)}
	err = p.store.RotateRefreshToken(ctx, storage.HashSecret(current), next, now, max(p.cfg.RefreshGrace, 0),
		audit(ctx, manage.EventTokenRefreshed, st.Token.UserID, "", c.ID, map[string]string{"grant_id": st.Grant.ID}),
		audit(ctx, manage.EventRefreshTokenReuse, "", st.Token.UserID, c.ID, map[string]string{"grant_id": st.Grant.ID}))
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		p.metrics.refreshReuse.Inc()
		return nil, oauthErr("invalid_grant", "refresh token already used")
	case errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return nil, oauthErr("invalid_grant", "invalid refresh token")
	case err != nil:
		return nil, serverFailure(ctx, "rotate refresh token", err)
	}
	req := &refreshRequest{RefreshTokenState: st, scopes: scopes}
	at := p.userToken(c, st.User.ID, st.Grant.ID, scopes, aud, st.Token.AuthTime, st.Token.AMR, st.Org, nil)
	resp, oerr := p.issue(ctx, c, at)
	if oerr != nil {
		return nil, oerr
	}
	resp.RefreshToken = rt
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = p.idToken(ctx, c, req, resp.AccessToken, ""); err != nil {
			return nil, serverFailure(ctx, "id token", err)
		}
	}
	p.metrics.issued("refresh_token", at)
	return resp, nil
}

// clientCredentialsGrant: a client acting for itself (RFC 6749 §4.4). An
// organization's service account carries its organization and role.
func (p *Provider) clientCredentialsGrant(ctx context.Context, c *client, form url.Values) (*tokenResponse, *oauthFailure) {
	if c.Public() {
		return nil, oauthErr("unauthorized_client", "public clients cannot use client_credentials")
	}
	scopes := strings.Fields(form.Get("scope"))
	for _, s := range scopes {
		if s == oidc.ScopeOpenID || s == oidc.ScopeOfflineAccess || s == oidc.ScopeProfile || s == oidc.ScopeEmail {
			return nil, oauthErr("invalid_scope", "user scopes are not available to client_credentials")
		}
	}
	aud, terr := p.resolveTargets(c, form["resource"], scopes, false)
	if terr != nil {
		return nil, terr.oauth()
	}
	var org storage.OrgRole
	if c.ServiceAccount() {
		o, err := p.store.OrganizationByID(ctx, c.OrgID)
		if errors.Is(err, storage.ErrNotFound) { // deleted with its organization
			p.clients.forget(c.ID)
			return nil, oauthErr("invalid_client", "invalid client credentials")
		}
		if err != nil {
			return nil, serverFailure(ctx, "load service account organization", err)
		}
		org = storage.OrgRole{Org: o, Role: c.ServiceRole}
		if !slices.Contains(scopes, "org") {
			scopes = append(scopes, "org") // a service account always speaks for its organization
		}
	}
	now := p.now()
	at := &claims.AccessToken{Issuer: p.cfg.Issuer, Subject: c.ID, ClientID: c.ID, JWTID: "c." + random.Token(16),
		IssuedAt: now.Unix(), NotBefore: now.Unix()}
	p.finishToken(c, at, scopes, aud, org)
	p.metrics.clientCredentials.WithLabelValues(c.ID).Inc()
	p.metrics.issued("client_credentials", at)
	return p.issue(ctx, c, at)
}

// userToken builds the claims of a user's access token.
func (p *Provider) userToken(c *client, userID, grantID string, scopes, aud []string, authTime time.Time, amr []string, org storage.OrgRole, act *claims.Actor) *claims.AccessToken {
	now := p.now()
	at := &claims.AccessToken{Issuer: p.cfg.Issuer, Subject: userID, ClientID: c.ID, JWTID: "g." + grantID + "." + random.Token(12),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), AuthTime: authTime.Unix(), ACR: storage.ACRFor(amr), AMR: amr, Actor: act}
	p.finishToken(c, at, scopes, aud, org)
	return at
}

// finishToken sets audience, scope, lifetime and the organization claims
// the APIs in aud receive.
func (p *Provider) finishToken(c *client, at *claims.AccessToken, scopes, aud []string, org storage.OrgRole) {
	at.Audience = aud
	if len(aud) == 0 {
		at.Audience = []string{c.ID} // for userinfo only
	}
	scopes = p.scopesFor(c, scopes, aud)
	at.Scope = strings.Join(scopes, " ")
	at.Expiry = time.Unix(at.IssuedAt, 0).Add(p.accessTokenTTL(aud)).Unix()
	at.SetOrg(org, p.entitlementsFor(org), p.receives(aud))
}

// accessTokenTTL is the shortest lifetime the APIs in aud ask for.
func (p *Provider) accessTokenTTL(aud []string) time.Duration {
	ttl := p.cfg.AccessTokenTTL
	for _, id := range aud {
		if a, ok := p.API(id); ok && a.AccessTokenTTL > 0 && a.AccessTokenTTL < ttl {
			ttl = a.AccessTokenTTL
		}
	}
	return ttl
}

// accessTokenAlg: the API's algorithm when the token is for one API that
// names one, else the provider's access-token default.
func (p *Provider) accessTokenAlg(aud []string) string {
	if len(aud) == 1 {
		if a, ok := p.API(aud[0]); ok && a.SigningAlg != "" {
			return a.SigningAlg
		}
	}
	return p.cfg.AccessTokenSigningAlg
}

// issue signs the access token and starts the response.
func (p *Provider) issue(ctx context.Context, c *client, at *claims.AccessToken) (*tokenResponse, *oauthFailure) {
	_, span := telemetry.Span(ctx, "token.sign", attribute.String("alg", p.accessTokenAlg(at.Audience)))
	raw, err := p.signJWT(p.accessTokenAlg(at.Audience), accessTokenType, at)
	telemetry.End(span, err)
	if err != nil {
		return nil, serverFailure(ctx, "sign access token", err)
	}
	return &tokenResponse{AccessToken: raw, TokenType: oidc.BearerToken, ExpiresIn: at.Expiry - p.now().Unix(), Scope: at.Scope}, nil
}

// idToken signs the ID token with the client's algorithm; the engine
// builds it (at_hash, c_hash, nonce, acr, amr, userinfo claims).
func (p *Provider) idToken(ctx context.Context, c *client, req op.IDTokenRequest, accessToken, code string) (string, error) {
	return op.CreateIDToken(withAlg(ctx, c.signingAlg()), p.cfg.Issuer, req, c.IDTokenLifetime(), accessToken, code, p.storage, c)
}
