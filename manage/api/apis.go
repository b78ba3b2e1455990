package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/storage"
)

// apiMetadata is an API (resource server) as the management API shows and
// takes it.
type apiMetadata struct {
	Identifier     string             `json:"identifier"`
	Name           string             `json:"name"`
	Scopes         []storage.APIScope `json:"scopes"`
	AccessTokenTTL string             `json:"access_token_ttl,omitempty"` // Go duration, e.g. "10m"
	SigningAlg     string             `json:"signing_alg,omitempty"`
	Claims         []string           `json:"claims"`
	RequireGrant   bool               `json:"require_grant"`
}

func viewAPI(a storage.API) apiMetadata {
	v := apiMetadata{Identifier: a.Identifier, Name: a.Name, Scopes: a.Scopes, SigningAlg: a.SigningAlg, Claims: a.Claims,
		RequireGrant: a.RequireGrant}
	if a.AccessTokenTTL > 0 {
		v.AccessTokenTTL = a.AccessTokenTTL.String()
	}
	if v.Scopes == nil {
		v.Scopes = []storage.APIScope{}
	}
	if v.Claims == nil {
		v.Claims = []string{}
	}
	return v
}

// orgAPIs lists the identifiers of an organization's own APIs, and every
// scope any API defines (the management API's included).
func (h *Handler) orgAPIs(r *http.Request, orgID string) (own, scopes []string, err error) {
	list, err := h.Store.ListAPIs(r.Context())
	if err != nil {
		return nil, nil, err
	}
	scopes = append(scopes, h.ManagementScopes...)
	for _, a := range list {
		if a.OrgID == orgID {
			own = append(own, a.Identifier)
		}
		for _, s := range a.Scopes {
			scopes = append(scopes, s.Name)
		}
	}
	return own, scopes, nil
}

func (h *Handler) listAPIs(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	list, err := h.Store.ListAPIs(r.Context())
	if err != nil {
		h.internal(w, r, "apis", err)
		return
	}
	out := []apiMetadata{}
	for _, a := range list {
		if a.OrgID == o.ID {
			out = append(out, viewAPI(a))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"apis": out})
}

// putAPI registers or updates one of the organization's APIs, under the
// rules of registration.ValidateAPI. An identifier another organization
// (or the platform) registered is a conflict.
func (h *Handler) putAPI(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	h.saveAPI(w, r, c, o)
}

// platformAPIs lists the platform's APIs (platform admins only).
func (h *Handler) platformAPIs(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators manage platform APIs.")
		return
	}
	h.listAPIs(w, r, c, storage.Organization{}, "")
}

// putPlatformAPI registers or updates a platform API (platform admins
// only); platform identifiers are not bound to a domain.
func (h *Handler) putPlatformAPI(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators manage platform APIs.")
		return
	}
	h.saveAPI(w, r, c, storage.Organization{})
}

func (h *Handler) deletePlatformAPI(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators manage platform APIs.")
		return
	}
	h.deleteAPI(w, r, c, storage.Organization{}, "")
}

// saveAPI stores an API of o ("" ID: the platform).
func (h *Handler) saveAPI(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization) {
	var body apiMetadata
	if !decode(w, r, &body) {
		return
	}
	a := storage.API{Identifier: body.Identifier, Name: body.Name, OrgID: o.ID, Scopes: body.Scopes, SigningAlg: body.SigningAlg,
		Claims: body.Claims, RequireGrant: body.RequireGrant}
	if body.AccessTokenTTL != "" {
		d, err := time.ParseDuration(body.AccessTokenTTL)
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid_api", "access_token_ttl must be a duration such as 10m.")
			return
		}
		a.AccessTokenTTL = d
	}
	if err := registration.ValidateAPI(a, h.ManagementAPI); err != nil {
		fail(w, http.StatusBadRequest, "invalid_api", err.Error()+".")
		return
	}
	if o.ID != "" && !h.onVerifiedDomain(w, r, o, a.Identifier) {
		return
	}
	if msg, err := h.scopesTaken(r, a); err != nil {
		h.internal(w, r, "scopes", err)
		return
	} else if msg != "" {
		fail(w, http.StatusConflict, "scope_taken", msg)
		return
	}
	saved, err := h.Store.UpsertAPI(r.Context(), a, h.event(r, "api_saved", c, o, "", map[string]string{"api": a.Identifier}))
	switch {
	case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
		fail(w, http.StatusConflict, "identifier_taken", "That identifier is registered elsewhere.")
		return
	case err != nil:
		h.internal(w, r, "save api", err)
		return
	}
	h.apisChanged()
	writeJSON(w, http.StatusOK, viewAPI(saved))
}

// scopesTaken explains why a's scopes cannot be its own ("" when they
// can): another API defines one, or another owner's client registered one
// as its own. A scope belongs to one owner, since consent pages, tokens
// and the token exchange know scopes by name.
func (h *Handler) scopesTaken(r *http.Request, a storage.API) (string, error) {
	apis, err := h.Store.ListAPIs(r.Context())
	if err != nil {
		return "", err
	}
	if err := registration.ScopeClash(a, apis); err != nil {
		return err.Error() + ".", nil
	}
	clients, err := h.Store.ListClients(r.Context())
	if err != nil {
		return "", err
	}
	for _, c := range clients {
		if c.OrgID == a.OrgID {
			continue
		}
		for _, sc := range a.Scopes {
			if slices.Contains(c.Scopes, sc.Name) {
				return fmt.Sprintf("scopes: %q is already in use.", sc.Name), nil
			}
		}
	}
	return "", nil
}

// onVerifiedDomain: an organization names its APIs on its own verified
// domains, so it can neither squat an identifier another tenant or the
// platform will want nor dress one up as theirs. On false the answer is
// written.
func (h *Handler) onVerifiedDomain(w http.ResponseWriter, r *http.Request, o storage.Organization, identifier string) bool {
	domains, err := h.Store.DomainsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "domains", err)
		return false
	}
	host := registration.IdentifierHost(identifier)
	if host == "" || !slices.ContainsFunc(domains, func(d storage.OrganizationDomain) bool {
		return !d.VerifiedAt.IsZero() && (host == d.Domain || strings.HasSuffix(host, "."+d.Domain))
	}) {
		fail(w, http.StatusBadRequest, "invalid_api", "identifier: must be an https URI on one of this organization's verified domains.")
		return false
	}
	return true
}

func (h *Handler) deleteAPI(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	// Identifiers are URIs, so they travel as a query parameter, not a
	// path segment.
	id := r.URL.Query().Get("identifier")
	err := h.Store.DeleteAPI(r.Context(), id, o.ID, h.event(r, "api_deleted", c, o, "", map[string]string{"api": id}))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "delete api", err)
	default:
		h.apisChanged()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) apisChanged() {
	if h.APIsChanged != nil {
		h.APIsChanged()
	}
}
