package api

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// connectionSettings are the preset's fields, stored as the connection's
// (secret-free) configuration.
type connectionSettings struct {
	ClientID            string   `json:"client_id"`
	Issuer              string   `json:"issuer,omitempty"`
	Domain              string   `json:"domain,omitempty"`
	AuthorizationServer string   `json:"authorization_server,omitempty"`
	Tenant              string   `json:"tenant,omitempty"`
	AllowedTenants      []string `json:"allowed_tenants,omitempty"`
	HostedDomain        string   `json:"hosted_domain,omitempty"`
	BaseURL             string   `json:"base_url,omitempty"`
	GroupsClaim         string   `json:"groups_claim,omitempty"`
}

type connectionView struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	LinkByEmail bool   `json:"link_by_email"`
	// The operator's say: email linking allowed, upstream MFA trusted,
	// the role ceiling.
	AllowEmailLinking bool              `json:"allow_email_linking"`
	TrustUpstreamMFA  bool              `json:"trust_upstream_mfa"`
	MaxRole           string            `json:"max_role"`
	DefaultRole       string            `json:"default_role"`
	RoleMapping       map[string]string `json:"role_mapping"`
	Settings          json.RawMessage   `json:"settings"`
	HasSecret         bool              `json:"has_secret"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

func viewConnection(c storage.Connection) connectionView {
	m := c.RoleMapping
	if m == nil {
		m = map[string]string{}
	}
	return connectionView{c.ID, c.Type, c.Name, c.Enabled, c.LinkByEmail, c.AllowEmailLinking, c.TrustUpstreamMFA, c.MaxRole,
		c.DefaultRole, m, c.Config, len(c.SecretSealed) > 0, c.UpdatedAt}
}

func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	all, err := h.Store.ListConnections(r.Context())
	if err != nil {
		h.internal(w, r, "connections", err)
		return
	}
	var mine []storage.Connection
	for _, c := range all {
		if c.OrgID == o.ID {
			mine = append(mine, c)
		}
	}
	mine, next := page(mine, func(c storage.Connection) string { return c.ID }, false, limit, after)
	out := []connectionView{}
	for _, c := range mine {
		out = append(out, viewConnection(c))
	}
	listed(w, "connections", out, next)
}

// createConnection adds an upstream identity provider for the
// organization's members. Roles it provisions (default and mapped) stay
// within the caller's own, so SSO cannot mint owners an admin could not.
func (h *Handler) createConnection(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	var body struct {
		Type         string             `json:"type"`
		Name         string             `json:"name"`
		ClientSecret string             `json:"client_secret"`
		Disabled     bool               `json:"disabled"`
		LinkByEmail  bool               `json:"link_by_email"`
		DefaultRole  string             `json:"default_role"`
		RoleMapping  map[string]string  `json:"role_mapping"`
		Settings     connectionSettings `json:"settings"`
		// The operator's say, for platform admins only.
		AllowEmailLinking bool   `json:"allow_email_linking"`
		TrustUpstreamMFA  bool   `json:"trust_upstream_mfa"`
		MaxRole           string `json:"max_role"`
	}
	if !decode(w, r, &body) {
		return
	}
	settings, _ := json.Marshal(body.Settings)
	stored, err := h.rules.CreateConnection(r.Context(), c.actor(r), o, own, manage.ConnectionSpec{Type: body.Type, Name: body.Name,
		Settings: settings, ClientSecret: body.ClientSecret, Disabled: body.Disabled, LinkByEmail: body.LinkByEmail,
		DefaultRole: body.DefaultRole, RoleMapping: body.RoleMapping, AllowEmailLinking: body.AllowEmailLinking,
		TrustUpstreamMFA: body.TrustUpstreamMFA, MaxRole: body.MaxRole})
	var ceiling *manage.RoleCeilingError
	switch {
	case errors.Is(err, manage.ErrOperatorOnly):
		fail(w, http.StatusForbidden, "operator_only", "Only the platform operator decides whether an identity provider may link accounts by email or vouch for a second factor.")
		return
	case errors.As(err, &ceiling):
		fail(w, http.StatusForbidden, "forbidden", "The connection cannot grant the role "+ceiling.Role+".")
		return
	case err != nil:
		h.failRule(w, r, "invalid_connection", "create connection", err)
		return
	}
	writeJSON(w, http.StatusCreated, viewConnection(stored))
}

// patchConnection turns a connection on or off.
func (h *Handler) patchConnection(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Enabled == nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid_request", Field: "enabled", Message: "enabled (true or false) is required."})
		return
	}
	conn, err := h.rules.SetConnectionEnabled(r.Context(), c.actor(r), o, own, mux.Vars(r)["connection"], *body.Enabled)
	var ceiling *manage.RoleCeilingError
	if errors.As(err, &ceiling) {
		fail(w, http.StatusForbidden, "forbidden", "The connection can grant the role "+ceiling.Role+", above your own: someone with that role must turn it on.")
		return
	}
	if err != nil {
		h.failRule(w, r, "invalid_request", "update connection", err)
		return
	}
	writeJSON(w, http.StatusOK, viewConnection(conn))
}

// probeView is what a connection test found upstream.
type probeView struct {
	OK                    bool     `json:"ok"`
	Issuer                string   `json:"issuer,omitempty"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint,omitempty"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI               string   `json:"jwks_uri,omitempty"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
	SigningKeys           int      `json:"signing_keys"`
	Error                 string   `json:"error,omitempty"`
}

// testConnection runs discovery against the upstream and reports what it
// found. An unusable upstream is a 200 with ok false and what is wrong:
// the test ran, and the admin needs the reason, which names only the
// upstream (never our internals).
func (h *Handler) testConnection(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	m, err := h.rules.TestConnection(r.Context(), o, mux.Vars(r)["connection"])
	v := probeView{OK: err == nil, Issuer: m.Issuer, AuthorizationEndpoint: m.AuthorizationEndpoint, TokenEndpoint: m.TokenEndpoint,
		UserinfoEndpoint: m.UserinfoEndpoint, JWKSURI: m.JWKSURI, ScopesSupported: m.ScopesSupported, SigningKeys: m.SigningKeys}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
		return
	case errors.Is(err, manage.ErrCannotProbe):
		v.Error = "This type of connection cannot be tested from here."
	case errors.Is(err, federation.ErrUpstream):
		// The message is about the upstream: its answer, status or address.
		v.Error = upstreamReason(err)
	case err != nil:
		h.internal(w, r, "test connection", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// upstreamReason is a test failure as an admin can act on it: what the
// upstream did wrong, without our package prefixes.
func upstreamReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, federation.ErrUpstream.Error()+": "); i >= 0 {
		msg = msg[i+len(federation.ErrUpstream.Error())+2:]
	}
	// Network failures say only that: which internal names resolve, or
	// to what, is not a tenant admin's to probe.
	var netErr net.Error
	if errors.As(err, &netErr) || strings.Contains(msg, "dial ") || strings.Contains(msg, "lookup ") {
		msg = "it could not be reached (name, network, or an address that is not allowed)"
	}
	return httpx.Clip("The identity provider could not be used: " + msg)
}

func (h *Handler) deleteConnection(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	id := mux.Vars(r)["connection"]
	conn, err := h.Store.ConnectionByID(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && conn.OrgID != o.ID) {
		notFound(w)
		return
	}
	if err != nil {
		h.internal(w, r, "connection", err)
		return
	}
	err = h.Store.DeleteConnection(r.Context(), id, h.event(r, manage.EventConnectionDeleted, c, o, "", map[string]string{"connection": id}))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "delete connection", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
