package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/provider/keys"
	"github.com/optibid/idp/manage/registration"
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
	list, err := h.Store.ClientsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "clients", err)
		return
	}
	out := make([]clientView, 0, len(list))
	for _, c := range list {
		out = append(out, viewClient(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
}

// validate applies the registration rules; the message names the field.
// own is the registering member's role; orgAPIs the organization's APIs;
// apiScopes every scope an API defines, which a client may not register
// as its own (it would otherwise collect an API's scope without the API).
func (b *clientMetadata) validate(own string, orgAPIs, apiScopes []string) error {
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" || len(b.Name) > 200 {
		return errors.New("name must be 1 to 200 characters")
	}
	if len(b.GrantTypes) == 0 {
		b.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, g := range b.GrantTypes {
		if !slices.Contains(registration.GrantTypes, g) {
			return fmt.Errorf("grant_types: %q must be one of %v", g, registration.GrantTypes)
		}
		if (g == "client_credentials" || g == registration.GrantTokenExchange) && b.Public {
			return fmt.Errorf("grant_types: %s needs a confidential client", g)
		}
	}
	if b.ServiceRole != "" {
		if !mayGrant(own, b.ServiceRole) {
			return errors.New("service_role: must be a role no higher than your own")
		}
		if b.Public || !slices.Equal(b.GrantTypes, []string{"client_credentials"}) {
			return errors.New("service_role: a service account is confidential and uses client_credentials only")
		}
	}
	for _, a := range slices.Concat(b.APIs, b.ActsFor, []string{b.DefaultAPI}) {
		if a != "" && !slices.Contains(orgAPIs, a) {
			return fmt.Errorf("apis: %q is not one of this organization's APIs", a)
		}
	}
	if len(b.AllowedOrigins) > 20 {
		return errors.New("allowed_origins: at most 20")
	}
	for _, o := range b.AllowedOrigins {
		if err := registration.ValidateOrigin(o); err != nil {
			return fmt.Errorf("allowed_origins: %v", err)
		}
	}
	if slices.Contains(b.GrantTypes, "authorization_code") && len(b.RedirectURIs) == 0 {
		return errors.New("redirect_uris: at least one is required for authorization_code")
	}
	if len(b.RedirectURIs) > 20 || len(b.PostLogoutRedirectURIs) > 20 || len(b.Scopes) > 20 {
		return errors.New("at most 20 redirect URIs, logout URIs and scopes each")
	}
	for _, u := range slices.Concat(b.RedirectURIs, b.PostLogoutRedirectURIs) {
		if err := registration.ValidateRedirectURI(u); err != nil {
			return fmt.Errorf("redirect URI: %v", err)
		}
	}
	for _, s := range b.Scopes {
		if s == "" || len(s) > 64 || strings.ContainsAny(s, " \t\r\n\"\\") {
			return fmt.Errorf("scopes: %q is not a scope token", s)
		}
		if slices.Contains(apiScopes, s) {
			return fmt.Errorf("scopes: %q belongs to an API; ask for it with the API instead", s)
		}
	}
	if b.IDTokenSignedAlg != "" && !slices.Contains(keys.Supported, b.IDTokenSignedAlg) {
		return fmt.Errorf("id_token_signed_response_alg must be one of %v", keys.Supported)
	}
	return nil
}

// createClient registers a relying party for the organization. The secret
// is in this answer only; the store keeps its hash.
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	var body clientMetadata
	if !decode(w, r, &body) {
		return
	}
	apis, apiScopes, err := h.orgAPIs(r, o.ID)
	if err != nil {
		h.internal(w, r, "apis", err)
		return
	}
	if err := body.validate(own, apis, apiScopes); err != nil {
		fail(w, http.StatusBadRequest, "invalid_client_metadata", err.Error()+".")
		return
	}
	sc := storage.Client{ID: random.ID(), OrgID: o.ID, Name: body.Name, RedirectURIs: body.RedirectURIs,
		PostLogoutRedirectURIs: body.PostLogoutRedirectURIs, GrantTypes: body.GrantTypes, Scopes: body.Scopes,
		RequireConsent: body.RequireConsent, RequireMFA: body.RequireMFA, RequireVerifiedEmail: body.RequireVerifiedEmail,
		IDTokenSignedResponseAlg: body.IDTokenSignedAlg, ServiceRole: body.ServiceRole, APIs: body.APIs, DefaultAPI: body.DefaultAPI,
		ActsFor: body.ActsFor, AllowedOrigins: body.AllowedOrigins}
	// Never FirstParty: an organization's client is not the operator's.
	secret := ""
	if !body.Public {
		secret = random.Token(32)
		sc.SecretHash = storage.HashSecret(secret)
	}
	stored, err := h.Store.UpsertClient(r.Context(), sc, h.event(r, "client_created", c, o, "", map[string]string{"client_id": sc.ID}))
	if err != nil {
		h.internal(w, r, "create client", err)
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
	err := h.Store.DeleteClient(r.Context(), sc.ID, h.Now().UTC(), h.event(r, "client_deleted", c, o, "", map[string]string{"client_id": sc.ID}))
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
	sc, ok := h.orgClient(w, r, o)
	if !ok {
		return
	}
	if sc.Public() {
		fail(w, http.StatusConflict, "public_client", "A public client has no secret.")
		return
	}
	secret := random.Token(32)
	sc.SecretHash = storage.HashSecret(secret)
	stored, err := h.Store.UpsertClient(r.Context(), sc, h.event(r, "client_secret_rotated", c, o, "", map[string]string{"client_id": sc.ID}))
	if err != nil {
		h.internal(w, r, "rotate secret", err)
		return
	}
	h.clientChanged(sc.ID)
	v := viewClient(stored)
	v.Secret = secret
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) clientChanged(id string) {
	if h.ClientChanged != nil {
		h.ClientChanged(id)
	}
}
