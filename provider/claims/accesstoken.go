package claims

import (
	"slices"
	"strings"

	"github.com/optibid/idp/storage"
)

// AccessToken is the payload of our access tokens (RFC 9068 §2.2): the
// registered claims, the user's authentication for user tokens, the
// exchanging API for exchanged tokens, and the organization claims the
// token's APIs receive.
type AccessToken struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ClientID  string   `json:"client_id"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JWTID     string   `json:"jti"`
	Scope     string   `json:"scope,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	// Actor names the client that exchanged a user's token (RFC 8693
	// §4.1), nested when the token was exchanged again.
	Actor        *Actor            `json:"act,omitempty"`
	Org          map[string]string `json:"org,omitempty"`
	Permissions  []string          `json:"permissions,omitempty"`
	Entitlements map[string]any    `json:"entitlements,omitempty"`
}

// Actor is the RFC 8693 act claim.
type Actor struct {
	Subject string `json:"sub"`
	Actor   *Actor `json:"act,omitempty"`
}

// Scopes splits the scope claim.
func (t *AccessToken) Scopes() []string { return strings.Fields(t.Scope) }

// Receives says which organization claims the APIs of a token receive
// (each API registers its own; a token for no API gets what its scopes
// ask for, as the ID token does).
type Receives struct{ Org, Permissions, Entitlements bool }

// All is what a token for no API (userinfo only) receives.
var All = Receives{true, true, true}

// SetOrg puts into t the organization claims that the scopes ask for and
// the APIs receive: org and permissions, and the compact entitlements
// (effective is the organization's effective feature set).
func (t *AccessToken) SetOrg(o storage.OrgRole, effective map[string]map[string]any, r Receives) {
	scopes := t.Scopes()
	oc := Org(scopes, o)
	if v, ok := oc["org"].(map[string]string); ok && r.Org {
		t.Org = v
	}
	if v, ok := oc["permissions"].([]string); ok && r.Permissions {
		t.Permissions = v
	}
	if ent := Entitlements(scopes, effective); ent != nil && r.Entitlements {
		t.Entitlements = ent["entitlements"].(map[string]any)
	}
}

// Introspection is the RFC 7662 answer for an active access token: the
// token's registered claims; for a user token (u not nil) the standard
// claims its scopes grant, username, and the organization claims as of
// now (a role or plan may have changed since the token was minted),
// limited to what the token's APIs receive, with the entitlements in full
// (every feature with its configuration); for a client's own token the
// organization claims it was minted with.
func Introspection(t *AccessToken, u *storage.User, o storage.OrgRole, effective map[string]map[string]any, r Receives) map[string]any {
	out := map[string]any{
		"active": true, "iss": t.Issuer, "sub": t.Subject, "aud": t.Audience, "client_id": t.ClientID,
		"token_type": "Bearer", "exp": t.Expiry, "iat": t.IssuedAt, "nbf": t.NotBefore, "jti": t.JWTID,
	}
	if t.Scope != "" {
		out["scope"] = t.Scope
	}
	if t.Actor != nil {
		out["act"] = t.Actor
	}
	if u == nil {
		if t.Org != nil {
			out["org"] = t.Org
		}
		if t.Permissions != nil {
			out["permissions"] = t.Permissions
		}
		return out
	}
	scopes := t.Scopes()
	if slices.Contains(scopes, "profile") {
		out["name"] = u.Name
		out["updated_at"] = u.UpdatedAt.Unix()
	}
	if slices.Contains(scopes, "email") { // the email is the username: only with the scope that grants it
		out["username"] = u.Email
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	if t.AuthTime != 0 {
		out["auth_time"] = t.AuthTime
	}
	if t.ACR != "" {
		out["acr"] = t.ACR
	}
	if len(t.AMR) > 0 {
		out["amr"] = t.AMR
	}
	if oc := Org(scopes, o); oc != nil {
		if r.Org {
			out["org"] = oc["org"]
		}
		if r.Permissions {
			out["permissions"] = oc["permissions"]
		}
		if r.Entitlements && slices.Contains(scopes, ScopeEntitlements) && effective != nil {
			out["entitlements"] = effective
		}
	}
	return out
}
