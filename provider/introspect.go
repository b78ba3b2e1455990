package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/provider/claims"
	"github.com/optibid/idp/storage"
)

// introspectionJWT is the media type of RFC 9701 JWT introspection answers.
const introspectionJWT = "application/token-introspection+jwt"

// introspect is RFC 7662 for APIs: an authenticated API (a client acting
// for it) learns everything about tokens whose aud includes it, the
// issuing client about its own tokens, anyone else only active=false. A
// revoked token, one of an ended grant or of an erased or disabled user is
// inactive at once: every answer checks the store (one round trip).
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx, caller, ok := p.clientRequest(w, r, true, "token")
	if !ok {
		return
	}
	if caller.Public() {
		p.writeErr(w, oauthErr("invalid_client", "public clients cannot introspect"))
		return
	}
	if r.PostForm.Get("token") == "" {
		p.writeErr(w, oauthErr("invalid_request", "token is required"))
		return
	}
	answer, oerr := p.introspection(ctx, caller, r.PostForm.Get("token"))
	if oerr != nil {
		p.writeErr(w, oerr)
		return
	}
	httpx.NoStore(w)
	if strings.Contains(r.Header.Get("Accept"), introspectionJWT) {
		now := p.now().Unix()
		raw, err := p.signJWT(p.cfg.SigningAlg, "token-introspection+jwt", map[string]any{
			"iss": p.cfg.Issuer, "aud": caller.ID, "iat": now, "token_introspection": answer})
		if err != nil {
			p.writeErr(w, serverFailure(ctx, "sign introspection", err))
			return
		}
		w.Header().Set("Content-Type", introspectionJWT)
		_, _ = w.Write([]byte(raw))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

var inactive = map[string]any{"active": false}

// introspection builds the answer for caller.
func (p *Provider) introspection(ctx context.Context, caller *client, token string) (map[string]any, *oauthFailure) {
	at, err := p.verifyAccessToken(token)
	if err != nil {
		return inactive, nil
	}
	asAPI := slices.ContainsFunc(at.Audience, func(a string) bool { return p.actsFor(caller, a) })
	if !asAPI && at.ClientID != caller.ID {
		return inactive, nil
	}
	grantID, ok := grantOf(at.JWTID)
	if !ok {
		return inactive, nil
	}
	if grantID == "" { // a client's own token: alive while not revoked and the client exists
		st, err := p.store.AccessTokenState(ctx, at.JWTID, "")
		if err != nil {
			return nil, serverFailure(ctx, "access token state", err)
		}
		if _, err := p.clients.get(ctx, at.ClientID); st.Revoked || err != nil {
			return inactive, nil
		}
		return claims.Introspection(at, nil, storage.OrgRole{}, nil, p.receives(at.Audience)), nil
	}
	st, live, oerr := p.liveUserToken(ctx, at.JWTID)
	if oerr != nil {
		return nil, oerr
	}
	if !live || st.User.ID != at.Subject || st.User.Locked(p.now()) {
		return inactive, nil
	}
	return claims.Introspection(at, &st.User, st.Org, p.entitlementsFor(st.Org), p.receives(at.Audience)), nil
}

// userinfo is OpenID Connect UserInfo for a live user access token with
// the openid scope. ID tokens, client-credentials tokens and anything not
// ours answer 401 invalid_token (RFC 6750 §3.1).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	token, ok := bearer(r)
	var st storage.AccessTokenState
	var at *claims.AccessToken
	var oerr *oauthFailure
	live := false
	if ok {
		at, _ = p.verifyAccessToken(token)
	}
	if at != nil && slices.Contains(at.Scopes(), oidc.ScopeOpenID) {
		// A verified token is charged to its holder (the user at the
		// client), apart from the client's own requests: one token cannot
		// fill the in-flight cap, and one person's flood spends neither the
		// application's allowance nor the other users'.
		if ok, after := p.admission.allow("userinfo\x00" + at.ClientID + "\x00" + at.Subject); !ok {
			tooMany(w, after)
			return
		}
		st, live, oerr = p.liveUserToken(ctx, at.JWTID)
	}
	live = live && st.User.ID == at.Subject && !st.User.Locked(p.now())
	if oerr == nil && !live {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.cfg.Issuer+`", error="invalid_token"`)
		writeOAuthError(w, http.StatusUnauthorized, oauthError{"invalid_token", "The access token is invalid or expired."})
		return
	}
	if oerr != nil {
		p.writeErr(w, oerr)
		return
	}
	info := new(oidc.UserInfo)
	claims.Userinfo(info, st.User, at.Scopes())
	for k, v := range p.storage.orgClaims(at.Scopes(), st.Org) {
		info.AppendClaims(k, v)
	}
	httpx.NoStore(w)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

// bearer reads an RFC 6750 bearer token from the header or, for POST, the
// form body.
func bearer(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		return strings.TrimSpace(tok), ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != ""
	}
	if r.Method == http.MethodPost && r.ParseForm() == nil && r.PostForm.Get("access_token") != "" {
		return r.PostForm.Get("access_token"), true
	}
	return "", false
}
