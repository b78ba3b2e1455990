package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

type invitationView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Language  string    `json:"language"`
	Status    string    `json:"status"` // pending, accepted, revoked or expired
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) viewInvitation(i storage.Invitation) invitationView {
	return invitationView{i.ID, i.Email, i.Role, i.Language, manage.InvitationStatus(i, h.Now()), i.InvitedBy, i.CreatedAt, i.ExpiresAt}
}

// invitationLanguage is the language an invitation is written in: the
// body's, else the one the request's Accept-Language prefers among the
// supported ones, else English.
func invitationLanguage(body string, r *http.Request) string {
	if body != "" {
		return body
	}
	return i18n.Negotiate(nil, r.Header.Get("Accept-Language"))
}

// invite creates an invitation and mails its token; the token is never in
// the response, so only the invited mailbox can accept. The mail is in
// the body's language, else the one the request's Accept-Language
// prefers among the supported ones, else English.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	var body struct {
		Email    string `json:"email"`
		Role     string `json:"role"`
		Language string `json:"language"`
	}
	if !decode(w, r, &body) {
		return
	}
	inv, err := h.rules.InviteIn(r.Context(), c.actor(r), c.user, o, own, body.Email, body.Role, invitationLanguage(body.Language, r))
	var ceiling *manage.RoleCeilingError
	switch {
	case errors.As(err, &ceiling):
		fail(w, http.StatusForbidden, "forbidden", "You cannot grant the role "+ceiling.Role+".")
		return
	case errors.Is(err, manage.ErrNotSent):
		// The invitation stands; the admin can revoke and resend.
		h.internal(w, r, "send invitation", err)
		return
	case err != nil:
		h.failRule(w, r, "invalid_request", "invitation", err)
		return
	}
	writeJSON(w, http.StatusCreated, h.viewInvitation(inv))
}

func (h *Handler) listInvitations(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	list, err := h.Store.InvitationsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "invitations", err)
		return
	}
	// Newest first; the cursor is creation time and ID.
	list, next := page(list, func(i storage.Invitation) string { return i.CreatedAt.UTC().Format(sortableTime) + "." + i.ID }, true, limit, after)
	out := make([]invitationView, 0, len(list))
	for _, i := range list {
		out = append(out, h.viewInvitation(i))
	}
	listed(w, "invitations", out, next)
}

func (h *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	id := mux.Vars(r)["invitation"]
	err := h.rules.RevokeInvitation(r.Context(), c.actor(r), o, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "revoke invitation", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// resendInvitation mails a new link for a pending invitation; the old one
// stops working.
func (h *Handler) resendInvitation(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	inv, err := h.rules.ResendInvitation(r.Context(), c.actor(r), c.user, o, own, mux.Vars(r)["invitation"])
	var ceiling *manage.RoleCeilingError
	switch {
	case errors.As(err, &ceiling):
		fail(w, http.StatusForbidden, "forbidden", "You cannot grant the role "+ceiling.Role+".")
	case errors.Is(err, manage.ErrNotSent):
		h.internal(w, r, "send invitation", err)
	case err != nil:
		h.failRule(w, r, "invalid_request", "resend invitation", err)
	default:
		writeJSON(w, http.StatusOK, h.viewInvitation(inv))
	}
}

// acceptInvitation joins the caller to the inviting organization. The
// caller's email must be the invited one and verified: an unverified
// address proves nothing about the mailbox the token was sent to.
func (h *Handler) acceptInvitation(w http.ResponseWriter, r *http.Request, c caller) {
	var body struct {
		Token string `json:"token"`
	}
	if !decode(w, r, &body) {
		return
	}
	inv, err := h.rules.AcceptInvitation(r.Context(), c.actor(r), c.user, body.Token)
	switch {
	case errors.Is(err, manage.ErrEmailUnverified):
		fail(w, http.StatusForbidden, "email_unverified", "Verify your email address before accepting an invitation.")
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrExpired):
		fail(w, http.StatusBadRequest, "invalid_invitation", "This invitation is unknown, already used, revoked or expired.")
	case errors.Is(err, storage.ErrMismatch):
		fail(w, http.StatusForbidden, "email_mismatch", "This invitation was sent to another email address.")
	case errors.Is(err, storage.ErrRevoked):
		fail(w, http.StatusForbidden, "inviter_lacks_rights", "Whoever invited you can no longer grant this role. Ask for a new invitation.")
	case errors.Is(err, storage.ErrConflict):
		fail(w, http.StatusConflict, "conflict", "You are already a member of this organization.")
	case err != nil:
		h.internal(w, r, "accept invitation", err)
	default:
		o, err := h.Store.OrganizationByID(r.Context(), inv.OrgID)
		if err != nil {
			h.internal(w, r, "organization", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"org": viewOrg(o), "role": inv.Role})
	}
}
