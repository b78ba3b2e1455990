package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// createOrg is for platform admins: a new organization with an existing
// account as its owner, in one transaction.
func (h *Handler) createOrg(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.user.PlatformAdmin {
		fail(w, http.StatusForbidden, "forbidden", "Only platform administrators create organizations.")
		return
	}
	var body struct {
		Slug       string `json:"slug"`
		Name       string `json:"name"`
		Plan       string `json:"plan"`
		OwnerEmail string `json:"owner_email"`
	}
	if !decode(w, r, &body) {
		return
	}
	name := strings.TrimSpace(body.Name)
	switch {
	case !storage.ValidSlug(body.Slug):
		fail(w, http.StatusBadRequest, "invalid_request", "slug must be lower-case letters, digits and dashes (at most 63).")
		return
	case name == "" || len(name) > 200:
		fail(w, http.StatusBadRequest, "invalid_request", "name must be 1 to 200 characters.")
		return
	case body.Plan != "" && !slices.Contains(entitlements.Plans, body.Plan):
		fail(w, http.StatusBadRequest, "invalid_request", "plan must be free, professional or enterprise.")
		return
	}
	owner, err := h.Store.UserByEmail(r.Context(), strings.ToLower(strings.TrimSpace(body.OwnerEmail)))
	if errors.Is(err, storage.ErrNotFound) {
		fail(w, http.StatusUnprocessableEntity, "unknown_owner", "owner_email must be an existing account.")
		return
	}
	if err != nil {
		h.internal(w, r, "owner", err)
		return
	}
	o, err := h.Store.CreateOrganization(r.Context(), storage.Organization{Slug: body.Slug, Name: name, Plan: body.Plan}, owner.ID,
		h.event(r, "organization_created", c, storage.Organization{}, owner.ID, map[string]string{"slug": body.Slug}))
	if errors.Is(err, storage.ErrConflict) {
		fail(w, http.StatusConflict, "conflict", "That slug is taken.")
		return
	}
	if err != nil {
		h.internal(w, r, "create organization", err)
		return
	}
	writeJSON(w, http.StatusCreated, viewOrg(o))
}

// deleteOrg removes the organization (org:delete: owners and platform
// admins). The body repeats the slug, so a wrong ID cannot do it.
func (h *Handler) deleteOrg(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	var body struct {
		Confirm string `json:"confirm"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Confirm != o.Slug {
		fail(w, http.StatusBadRequest, "confirmation_required", `Send {"confirm": "<the organization's slug>"} to delete it.`)
		return
	}
	clients, err := h.Store.ClientsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "clients", err)
		return
	}
	err = h.Store.DeleteOrganization(r.Context(), o.ID, h.event(r, "organization_deleted", c, o, "", map[string]string{"slug": o.Slug}))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "delete organization", err)
	default:
		// Its clients and APIs are gone: drop them from this replica's
		// caches at once (others follow within their reload).
		for _, cl := range clients {
			h.clientChanged(cl.ID)
		}
		h.apisChanged()
		w.WriteHeader(http.StatusNoContent)
	}
}
