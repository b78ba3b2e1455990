// Package claims turns a user and the granted scopes into OpenID Connect
// claims. Pure functions, no I/O: the same input always gives the same
// claims, which golden-file tests pin.
package claims

import (
	"github.com/optibid/idp/manage"

	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// Userinfo fills the standard claims that scopes grant: sub always, name
// with `profile`, email and email_verified with `email`.
func Userinfo(info *oidc.UserInfo, u storage.User, scopes []string) {
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
	}
}

// Scopes asking for organization claims.
const (
	ScopeOrg          = manage.ScopeOrg
	ScopeEntitlements = manage.ScopeEntitlements
)

// Entitlements returns the compact entitlements claim when the scopes ask
// for it.
func Entitlements(scopes []string, effective map[string]map[string]any) map[string]any {
	if !slices.Contains(scopes, ScopeEntitlements) || effective == nil {
		return nil
	}
	return map[string]any{"entitlements": entitlements.Claim(effective)}
}

// Org returns the org and permissions claims for the organization of the
// login, when the scopes ask for them and the user is (still) a member.
func Org(scopes []string, o storage.OrgRole) map[string]any {
	if !slices.ContainsFunc(scopes, func(s string) bool { return s == ScopeOrg || strings.HasPrefix(s, ScopeOrg+":") }) || o.Org.ID == "" || o.Role == "" {
		return nil
	}
	return map[string]any{
		"org":         map[string]string{"id": o.Org.ID, "slug": o.Org.Slug, "name": o.Org.Name, "role": o.Role},
		"permissions": roles.Permissions(o.Role),
	}
}

// ForIDToken trims organization claims for the ID token, which has a 4 KB
// budget: it travels through browsers and often ends up in a cookie. The
// org claim names the role (the permissions follow from it) and the
// entitlements claim keeps the enabled feature keys; the permissions list
// and feature configuration are authorization data for APIs and stay in
// the access token, userinfo and introspection. With 100 features of
// realistic key length the ID token is about 3.5 KB (see
// TestEntitlementsTokenBudget); with them it would be over 5 KB.
func ForIDToken(orgClaims map[string]any) map[string]any {
	out := make(map[string]any, len(orgClaims))
	for k, v := range orgClaims {
		switch k {
		case "permissions":
		case "entitlements":
			if ent, ok := v.(map[string]any); ok {
				out[k] = map[string]any{"features": ent["features"]}
			}
		default:
			out[k] = v
		}
	}
	return out
}
