package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/provider/claims"
	"github.com/optibid/idp/storage"
)

// Scopes of the management API. manage:read allows reading only.
const (
	ScopeManage     = registration.ScopeManage
	ScopeManageRead = registration.ScopeManageRead
)

// ManagementAPIPath is appended to the issuer to form the management API's
// identifier (its tokens' audience).
const ManagementAPIPath = "/api"

// ManagementAPI is the identifier of the management API: /api/v1 accepts
// only access tokens whose aud contains it.
func (p *Provider) ManagementAPI() string { return p.cfg.Issuer + ManagementAPIPath }

// apiSet is an immutable snapshot of the registered APIs, the management
// API included, indexed for the token path.
type apiSet struct {
	byID    map[string]storage.API
	byScope map[string][]string // API scope → identifiers of the APIs defining it
}

// apiCatalogue holds the current snapshot: tokens are minted without a
// query; ReloadAPIs replaces it (at start, periodically and after a change).
type apiCatalogue struct{ set atomic.Pointer[apiSet] }

func (p *Provider) managementAPI() storage.API {
	return storage.API{Identifier: p.ManagementAPI(), Name: "OptiBid management API", RequireGrant: true,
		Claims: []string{"org", "permissions"},
		Scopes: []storage.APIScope{
			{Name: ScopeManage, Description: "Manage your organizations with your role's permissions"},
			{Name: ScopeManageRead, Description: "Read your organizations' settings, members and audit log"},
		}}
}

func (p *Provider) newAPISet(list []storage.API) *apiSet {
	s := &apiSet{byID: map[string]storage.API{}, byScope: map[string][]string{}}
	for _, a := range append(list, p.managementAPI()) {
		s.byID[a.Identifier] = a
		for _, sc := range a.Scopes {
			s.byScope[sc.Name] = append(s.byScope[sc.Name], a.Identifier)
		}
	}
	return s
}

// ReloadAPIs re-reads the registered APIs; on failure the old set stays.
func (p *Provider) ReloadAPIs(ctx context.Context) error {
	list, err := p.store.ListAPIs(ctx)
	if err != nil {
		slog.WarnContext(ctx, "API reload failed; keeping the previous set", "error", err)
		return err
	}
	p.apis.set.Store(p.newAPISet(list))
	return nil
}

func (p *Provider) apiSet() *apiSet {
	if s := p.apis.set.Load(); s != nil {
		return s
	}
	return p.newAPISet(nil)
}

// API returns a registered API (the management API included).
func (p *Provider) API(identifier string) (storage.API, bool) {
	a, ok := p.apiSet().byID[identifier]
	return a, ok
}

// APIsWithScope returns the registered APIs that define scope (for the
// consent page's words when a request names no resource).
func (p *Provider) APIsWithScope(scope string) []storage.API {
	set := p.apiSet()
	var out []storage.API
	for _, id := range set.byScope[scope] {
		out = append(out, set.byID[id])
	}
	return out
}

// mayUse reports whether client c may obtain tokens for api: for a user
// (forUser) or for itself (client credentials). The management API takes
// first-party clients for users and service accounts for themselves,
// nobody else; an organization's API takes that organization's clients;
// an API that requires a grant takes the clients that list it.
func (p *Provider) mayUse(c *client, api storage.API, forUser bool) bool {
	if api.Identifier == p.ManagementAPI() {
		if forUser {
			return c.FirstParty
		}
		return c.ServiceAccount()
	}
	if api.OrgID != "" && c.OrgID != api.OrgID {
		return false
	}
	return !api.RequireGrant || p.grants(c, c.APIs, api.Identifier)
}

// grants reports whether a client's list of API identifiers (apis,
// acts_for, default_api) names api in earnest: only the API's owner can
// grant it, so the reference counts when client and API belong to the
// same owner, an organization or the platform. A reference that outlived
// its API, or names an identifier another owner registered later, counts
// for nothing.
func (p *Provider) grants(c *client, list []string, identifier string) bool {
	api, ok := p.API(identifier)
	return ok && slices.Contains(list, identifier) && api.OrgID == c.OrgID
}

// actsFor reports whether the client is the API identifier's own
// credentials (acts_for, granted by the API's owner).
func (p *Provider) actsFor(c *client, identifier string) bool {
	return p.grants(c, c.ActsFor, identifier)
}

// targetError is an RFC 8707 or RFC 6749 error about what a request asks for.
type targetError struct{ code, desc string }

func (e *targetError) oauth() *oauthFailure { return oauthErr(e.code, e.desc) }

// resolveTargets decides which APIs a request is for: every resource
// parameter (RFC 8707), the API defining each API scope, and otherwise the
// client's default API. Every scope must be a standard one, one the client
// registered, or a scope of a selected API. No API at all means the token
// is for userinfo only.
func (p *Provider) resolveTargets(c *client, resources, scopes []string, forUser bool) ([]string, *targetError) {
	set := p.apiSet()
	var out []string
	for _, r := range resources {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, &targetError{"invalid_target", "resource must be an absolute URI without a fragment"}
		}
		api, ok := set.byID[r]
		if !ok {
			return nil, &targetError{"invalid_target", "unknown resource"}
		}
		if !p.mayUse(c, api, forUser) {
			return nil, &targetError{"invalid_target", "the client may not request tokens for this resource"}
		}
		out = append(out, r)
	}
	explicit := len(out) > 0
	for _, s := range scopes {
		if slices.ContainsFunc(out, func(id string) bool { return definesScope(set.byID[id], s) }) {
			continue
		}
		if isStandardScope(s) {
			continue
		}
		var candidates []string
		if !explicit {
			for _, id := range set.byScope[s] {
				if p.mayUse(c, set.byID[id], forUser) {
					candidates = append(candidates, id)
				}
			}
		}
		switch {
		case len(candidates) == 1:
			out = append(out, candidates[0])
		case len(candidates) > 1:
			return nil, &targetError{"invalid_target", "scope " + s + " is defined by several APIs: name one with resource"}
		case len(set.byScope[s]) > 0:
			// An API's scope comes only with that API: a client cannot
			// collect it by registering the same name as its own.
			return nil, &targetError{"invalid_scope", "scope not allowed for this client"}
		case c.IsScopeAllowed(s):
		default:
			return nil, &targetError{"invalid_scope", "scope not allowed for this client"}
		}
	}
	if len(out) == 0 && c.DefaultAPI != "" && p.grants(c, []string{c.DefaultAPI}, c.DefaultAPI) {
		if api, ok := set.byID[c.DefaultAPI]; ok && p.mayUse(c, api, forUser) {
			out = append(out, c.DefaultAPI)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 1 && slices.Contains(out, p.ManagementAPI()) {
		// A management token must not also be another API's: that API
		// could replay it against /api/v1.
		return nil, &targetError{"invalid_target", "the management API must be requested on its own"}
	}
	return out, nil
}

func definesScope(api storage.API, scope string) bool {
	return slices.ContainsFunc(api.Scopes, func(s storage.APIScope) bool { return s.Name == scope })
}

// isStandardScope: OpenID Connect scopes and the organization scopes,
// which every client may ask for.
func isStandardScope(s string) bool {
	switch s {
	case oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, claims.ScopeOrg, claims.ScopeEntitlements:
		return true
	}
	return len(s) > 4 && s[:4] == claims.ScopeOrg+":"
}

// scopesFor narrows granted scopes to a token for aud: standard and the
// client's own scopes stay, API scopes only for an API in aud.
func (p *Provider) scopesFor(c *client, granted, aud []string) []string {
	set := p.apiSet()
	out := make([]string, 0, len(granted))
	for _, s := range granted {
		if isStandardScope(s) || slices.ContainsFunc(aud, func(id string) bool { return definesScope(set.byID[id], s) }) ||
			c.IsScopeAllowed(s) && len(set.byScope[s]) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// receives says which organization claims a token for aud carries: each
// API names the ones it receives; a token for no API (userinfo only)
// carries what the scopes ask for, as the ID token does.
func (p *Provider) receives(aud []string) claims.Receives {
	set := p.apiSet()
	var r claims.Receives
	apis := 0
	for _, id := range aud {
		api, ok := set.byID[id]
		if !ok {
			continue
		}
		apis++
		r.Org = r.Org || slices.Contains(api.Claims, "org")
		r.Permissions = r.Permissions || slices.Contains(api.Claims, "permissions")
		r.Entitlements = r.Entitlements || slices.Contains(api.Claims, "entitlements")
	}
	if apis == 0 {
		return claims.All
	}
	return r
}

// corsAllowed decides CORS: an origin the operator lists
// (cors_allowed_origins) is allowed everywhere; an origin a client
// registered (a single-page app) is allowed for that client's requests
// only: its client_id (Basic or form), or the client of its bearer token.
// Preflights carry no credentials, so they pass for any registered origin
// and the actual request decides; so do the public documents (discovery,
// JWKS). An empty configuration allows none.
func (p *Provider) corsAllowed(r *http.Request, origin string) (bool, []string) {
	if slices.Contains(p.cfg.CORSAllowedOrigins, origin) {
		return true, nil
	}
	o := p.origins.Load()
	if o == nil || len((*o)[origin]) == 0 {
		return false, nil
	}
	if r.Method == http.MethodOptions || r.Method == http.MethodGet && (r.URL.Path == "/keys" || r.URL.Path == "/.well-known/openid-configuration") {
		return true, nil
	}
	return (*o)[origin][p.requestClient(r)], []string{"Authorization"}
}

// requestClient names the client a request speaks for, as the endpoint
// will authenticate it: the client of the bearer token at userinfo; HTTP
// Basic or the form's client_id elsewhere.
func (p *Provider) requestClient(r *http.Request) string {
	if r.URL.Path == "/userinfo" {
		if tok, ok := bearer(r); ok {
			if at, err := p.verifyAccessToken(tok); err == nil {
				return at.ClientID
			}
		}
		return ""
	}
	if id, _, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		return id
	}
	if r.ParseForm() == nil {
		return r.PostForm.Get("client_id")
	}
	return ""
}

// ReloadClientOrigins re-reads the origins clients registered.
func (p *Provider) ReloadClientOrigins(ctx context.Context) error {
	list, err := p.store.ListClients(ctx)
	if err != nil {
		slog.WarnContext(ctx, "client origins reload failed; keeping the previous set", "error", err)
		return err
	}
	m := map[string]map[string]bool{}
	for _, c := range list {
		for _, o := range c.AllowedOrigins {
			if m[o] == nil {
				m[o] = map[string]bool{}
			}
			m[o][c.ID] = true
		}
	}
	p.origins.Store(&m)
	return nil
}

// Reload refreshes what the provider keeps in memory from the store: the
// APIs and the clients' CORS origins.
func (p *Provider) Reload(ctx context.Context) error {
	return errors.Join(p.ReloadAPIs(ctx), p.ReloadClientOrigins(ctx))
}
