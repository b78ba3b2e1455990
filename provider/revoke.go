package provider

import (
	"errors"
	"net/http"
	"time"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// revoke is RFC 7009. The caller is authenticated first (public clients by
// client_id); a token is revoked only when it was issued to the caller: a
// refresh token ends its whole grant, an access token its own jti. Another
// client's token answers unauthorized_client and stays valid. A token we do
// not recognize (unknown, expired, not ours) answers 200, as the RFC asks;
// a store failure answers 503, never a 200 that did not revoke.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	ctx, c, ok := p.clientRequest(w, r, false, "token") // a sign-out is never refused for a rate
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeErr(w, oauthErr("invalid_request", "token is required"))
		return
	}
	now := p.now().UTC()
	foreign := oauthErr("unauthorized_client", "the token was issued to another client")
	st, err := p.store.RefreshTokenByHash(ctx, storage.HashSecret(token))
	switch {
	case err == nil:
		if st.Token.ClientID != c.ID {
			p.writeErr(w, foreign)
			return
		}
		err := p.store.RevokeGrant(ctx, st.Grant.ID, now, audit(ctx, manage.EventTokenRevoked, c.ID, st.Token.UserID, c.ID,
			map[string]string{"grant_id": st.Grant.ID, "token_type": "refresh_token"}))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.writeErr(w, serverFailure(ctx, "revoke grant", err))
			return
		}
	case !errors.Is(err, storage.ErrNotFound):
		p.writeErr(w, serverFailure(ctx, "load refresh token", err))
		return
	default:
		at, verr := p.verifyAccessToken(token)
		if verr != nil {
			break // not a live token of ours: nothing to revoke
		}
		if at.ClientID != c.ID {
			p.writeErr(w, foreign)
			return
		}
		subject := ""
		if at.Subject != at.ClientID {
			subject = at.Subject
		}
		// The entry outlives the token by the verification leeway.
		until := time.Unix(at.Expiry, 0).Add(accessTokenLeeway)
		if err := p.store.RevokeAccessToken(ctx, at.JWTID, until, audit(ctx, manage.EventTokenRevoked, c.ID, subject, c.ID,
			map[string]string{"token_type": "access_token"})); err != nil {
			p.writeErr(w, serverFailure(ctx, "revoke access token", err))
			return
		}
	}
	httpx.NoStore(w)
	w.WriteHeader(http.StatusOK)
}
