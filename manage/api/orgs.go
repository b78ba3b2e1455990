package api

import (
	"errors"
	"net/http"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// createOrg is for platform admins: a new organization with its owner,
// in one transaction when the owner has an account; otherwise created
// without members, with the owner invited (the answer carries the
// invitation).
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
		Language   string `json:"language"`
	}
	if !decode(w, r, &body) {
		return
	}
	o, inv, err := h.rules.CreateOrganizationInviting(r.Context(), c.actor(r), c.user, manage.OrgSpec{Slug: body.Slug, Name: body.Name, Plan: body.Plan},
		body.OwnerEmail, invitationLanguage(body.Language, r))
	switch {
	case errors.Is(err, manage.ErrNotSent):
		// The organization and invitation stand; the invitation can be resent.
		h.internal(w, r, "send owner invitation", err)
		return
	case errors.Is(err, storage.ErrConflict):
		fail(w, http.StatusConflict, "conflict", "That slug is taken.")
		return
	case err != nil:
		h.failRule(w, r, "invalid_request", "create organization", err)
		return
	}
	out := map[string]any{"org": viewOrg(o)}
	if inv != nil {
		out["invitation"] = h.viewInvitation(*inv)
	}
	writeJSON(w, http.StatusCreated, out)
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
	err = h.Store.DeleteOrganization(r.Context(), o.ID, h.event(r, manage.EventOrganizationDeleted, c, o, "", map[string]string{"slug": o.Slug}))
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
