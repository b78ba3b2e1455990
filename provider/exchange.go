package provider

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/provider/claims"
)

// exchangeGrant is RFC 8693 token exchange for API-to-API calls: an API
// (a client acting for it) holding a user's access token for itself
// exchanges it for a token to a second API it has an explicit grant for.
// The new token names the exchanging API in act, belongs to the same
// grant (revoking the user's grant kills it too), and its scopes can only
// narrow. The management API is never a target.
func (p *Provider) exchangeGrant(ctx context.Context, c *client, form url.Values) (*tokenResponse, *oauthFailure) {
	switch {
	case form.Get("subject_token") == "" || form.Get("subject_token_type") != tokenTypeAccessToken:
		return nil, oauthErr("invalid_request", "subject_token of type access_token is required")
	case form.Get("actor_token") != "":
		return nil, oauthErr("invalid_request", "actor tokens are not supported")
	case form.Get("requested_token_type") != "" && form.Get("requested_token_type") != tokenTypeAccessToken:
		return nil, oauthErr("invalid_request", "only access tokens can be requested")
	case len(c.ActsFor) == 0:
		return nil, oauthErr("unauthorized_client", "the client does not act for an API")
	}
	subject, err := p.verifyAccessToken(form.Get("subject_token"))
	if err != nil {
		return nil, oauthErr("invalid_grant", "invalid subject_token")
	}
	// The caller must be the API the subject token was issued for.
	if !slices.ContainsFunc(subject.Audience, func(a string) bool { return p.actsFor(c, a) }) {
		return nil, oauthErr("invalid_grant", "the subject_token is not for an API this client acts for")
	}
	st, live, oerr := p.liveUserToken(ctx, subject.JWTID)
	if oerr != nil {
		return nil, oerr
	}
	if !live || st.User.ID != subject.Subject || st.User.Locked(p.now()) {
		return nil, oauthErr("invalid_grant", "invalid subject_token")
	}
	targets := append(slices.Clone(form["resource"]), form["audience"]...)
	if len(targets) == 0 {
		return nil, oauthErr("invalid_target", "name the API with resource or audience")
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	for _, t := range targets {
		if t == p.ManagementAPI() || !p.grants(c, c.APIs, t) || slices.Contains(subject.Audience, t) {
			return nil, oauthErr("invalid_target", "the client may not exchange tokens for this resource")
		}
	}
	// The ceiling is what the user granted (the grant's scopes), less the
	// OpenID Connect ones: an API's token is not a key to the user's
	// profile. Asking for more is refused, never silently cut.
	var held []string
	for _, sc := range st.Grant.Scopes {
		if !slices.Contains([]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}, sc) {
			held = append(held, sc)
		}
	}
	scopes := held
	if s := form.Get("scope"); s != "" {
		scopes = strings.Fields(s)
		for _, sc := range scopes {
			if !slices.Contains(held, sc) {
				return nil, oauthErr("invalid_scope", "scope exceeds what the user granted")
			}
		}
	}
	act := &claims.Actor{Subject: c.ID, Actor: subject.Actor}
	at := p.userToken(c, st.User.ID, st.Grant.ID, scopes, targets, time.Unix(subject.AuthTime, 0), subject.AMR, st.Org, act)
	if !slices.ContainsFunc(at.Scopes(), func(sc string) bool { return !isStandardScope(sc) }) {
		return nil, oauthErr("invalid_scope", "the user granted no scope of this resource")
	}
	resp, oerr := p.issue(ctx, c, at)
	if oerr != nil {
		return nil, oerr
	}
	// The exchange stores nothing else: its audit row is its record, so
	// no row, no token.
	if err := p.store.AppendAudit(ctx, audit(ctx, manage.EventTokenExchanged, c.ID, st.User.ID, c.ID,
		map[string]string{"grant_id": st.Grant.ID, "audience": strings.Join(targets, " ")})); err != nil {
		return nil, serverFailure(ctx, "audit token exchange", err)
	}
	resp.IssuedTokenType = tokenTypeAccessToken
	p.metrics.issued("token_exchange", at)
	return resp, nil
}
