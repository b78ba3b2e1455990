package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// apiMetadata is an API (resource server) as the management API shows and
// takes it.
type apiMetadata struct {
	Identifier     string             `json:"identifier"`
	OrgID          string             `json:"org_id,omitempty"` // in answers only`
	Name           string             `json:"name"`
	Scopes         []storage.APIScope `json:"scopes"`
	AccessTokenTTL string             `json:"access_token_ttl,omitempty"` // Go duration, e.g. "10m"
	SigningAlg     string             `json:"signing_alg,omitempty"`
	Claims         []string           `json:"claims"`
	RequireGrant   bool               `json:"require_grant"`
}

// ViewAPI is an API as the management API (and the CLI) shows it.
func ViewAPI(a storage.API) any { return viewAPI(a) }

func viewAPI(a storage.API) apiMetadata {
	v := apiMetadata{Identifier: a.Identifier, OrgID: a.OrgID, Name: a.Name, Scopes: a.Scopes, SigningAlg: a.SigningAlg, Claims: a.Claims,
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

func (h *Handler) listAPIs(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	list, err := h.Store.ListAPIs(r.Context())
	if err != nil {
		h.internal(w, r, "apis", err)
		return
	}
	var mine []storage.API
	for _, a := range list {
		if a.OrgID == o.ID {
			mine = append(mine, a)
		}
	}
	mine, next := page(mine, func(a storage.API) string { return a.Identifier }, false, limit, after)
	out := []apiMetadata{}
	for _, a := range mine {
		out = append(out, viewAPI(a))
	}
	listed(w, "apis", out, next)
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
	saved, err := h.rules.SaveAPI(r.Context(), c.actor(r), o, a)
	var taken *manage.ScopeTakenError
	switch {
	case errors.As(err, &taken):
		fail(w, http.StatusConflict, "scope_taken", taken.Msg+".")
		return
	case errors.Is(err, manage.ErrIdentifierTaken):
		fail(w, http.StatusConflict, "identifier_taken", "That identifier is registered elsewhere.")
		return
	case err != nil:
		h.failRule(w, r, "invalid_api", "save api", err)
		return
	}
	h.apisChanged()
	writeJSON(w, http.StatusOK, viewAPI(saved))
}

func (h *Handler) deleteAPI(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	// Identifiers are URIs, so they travel as a query parameter, not a
	// path segment.
	id := r.URL.Query().Get("identifier")
	err := h.rules.DeleteAPI(r.Context(), c.actor(r), o, id)
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
