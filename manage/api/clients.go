package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// clientMetadata is what a client is registered with: the request body,
// and (with ID, time and perhaps the secret) the answer.
type clientMetadata struct {
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	RequireConsent         bool     `json:"require_consent"`
	RequireMFA             bool     `json:"require_mfa"`
	RequireVerifiedEmail   bool     `json:"require_verified_email"`
	IDTokenSignedAlg       string   `json:"id_token_signed_response_alg,omitempty"`
	// ServiceRole makes the client a service account: client_credentials
	// only, acting in this organization with this role (at most the
	// registering member's own).
	ServiceRole string `json:"service_role,omitempty"`
	// APIs, DefaultAPI and ActsFor may name this organization's own APIs
	// only (platform APIs are granted by operators).
	APIs           []string `json:"apis"`
	DefaultAPI     string   `json:"default_api,omitempty"`
	ActsFor        []string `json:"acts_for"`
	AllowedOrigins []string `json:"allowed_origins"`
}

type clientView struct {
	ID string `json:"client_id"`
	clientMetadata
	CreatedAt time.Time `json:"created_at"`
	// Secret is only in the answer that created or rotated it.
	Secret string `json:"client_secret,omitempty"`
}

func viewClient(c storage.Client) clientView {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return clientView{ID: c.ID, CreatedAt: c.CreatedAt, clientMetadata: clientMetadata{c.Name, c.Public(), nonNil(c.RedirectURIs),
		nonNil(c.PostLogoutRedirectURIs), nonNil(c.GrantTypes), nonNil(c.Scopes), c.RequireConsent, c.RequireMFA,
		c.RequireVerifiedEmail, c.IDTokenSignedResponseAlg, c.ServiceRole, nonNil(c.APIs), c.DefaultAPI, nonNil(c.ActsFor),
		nonNil(c.AllowedOrigins)}}
}

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	list, err := h.Store.ClientsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "clients", err)
		return
	}
	list, next := page(list, func(c storage.Client) string { return c.ID }, false, limit, after)
	out := make([]clientView, 0, len(list))
	for _, c := range list {
		out = append(out, viewClient(c))
	}
	listed(w, "clients", out, next)
}

// spec is the registration request in the management layer's terms.
func (b clientMetadata) spec() manage.ClientSpec {
	return manage.ClientSpec{Name: b.Name, Public: b.Public, RedirectURIs: b.RedirectURIs, PostLogoutRedirectURIs: b.PostLogoutRedirectURIs,
		GrantTypes: b.GrantTypes, Scopes: b.Scopes, RequireConsent: b.RequireConsent, RequireMFA: b.RequireMFA,
		RequireVerifiedEmail: b.RequireVerifiedEmail, IDTokenSignedAlg: b.IDTokenSignedAlg, ServiceRole: b.ServiceRole, APIs: b.APIs,
		DefaultAPI: b.DefaultAPI, ActsFor: b.ActsFor, AllowedOrigins: b.AllowedOrigins}
}

// createClient registers a relying party for the organization. The secret
// is in this answer only; the store keeps its hash.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	var body clientMetadata
	if !decode(w, r, &body) {
		return
	}
	stored, secret, err := h.rules.RegisterClient(r.Context(), c.actor(r), o, own, body.spec())
	if err != nil {
		h.failRule(w, r, "invalid_client_metadata", "create client", err)
		return
	}
	v := viewClient(stored)
	v.Secret = secret
	writeJSON(w, http.StatusCreated, v)
}

// orgClient finds {client} among the organization's own clients: 404 for
// platform clients and other organizations' clients alike.
func (h *Handler) orgClient(w http.ResponseWriter, r *http.Request, o storage.Organization) (storage.Client, bool) {
	sc, err := h.Store.ClientByID(r.Context(), mux.Vars(r)["client"])
	if errors.Is(err, storage.ErrNotFound) || (err == nil && sc.OrgID != o.ID) {
		notFound(w)
		return sc, false
	}
	if err != nil {
		h.internal(w, r, "client", err)
		return sc, false
	}
	return sc, true
}

func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	sc, ok := h.orgClient(w, r, o)
	if !ok {
		return
	}
	err := h.Store.DeleteClient(r.Context(), sc.ID, h.Now().UTC(), h.event(r, manage.EventClientDeleted, c, o, "", map[string]string{"client_id": sc.ID}))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "delete client", err)
	default:
		h.clientChanged(sc.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

// rotateSecret replaces a confidential client's secret; the old one stops
// working at once on this replica.
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	stored, secret, err := h.rules.RotateClientSecret(r.Context(), c.actor(r), o, mux.Vars(r)["client"])
	switch {
	case errors.Is(err, manage.ErrPublicClient):
		fail(w, http.StatusConflict, "public_client", "A public client has no secret.")
		return
	case err != nil:
		h.failRule(w, r, "invalid_request", "rotate secret", err)
		return
	}
	h.clientChanged(stored.ID)
	v := viewClient(stored)
	v.Secret = secret
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) clientChanged(id string) {
	if h.ClientChanged != nil {
		h.ClientChanged(id)
	}
}
