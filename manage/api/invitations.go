package api

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// DefaultInvitationTTL is how long an invitation stays usable unless
// Deps.InvitationTTL says otherwise.
const DefaultInvitationTTL = 7 * 24 * time.Hour

type invitationView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Status    string    `json:"status"` // pending, accepted, revoked or expired
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) viewInvitation(i storage.Invitation) invitationView {
	status := "pending"
	switch {
	case !i.AcceptedAt.IsZero():
		status = "accepted"
	case !i.RevokedAt.IsZero():
		status = "revoked"
	case !h.Now().Before(i.ExpiresAt):
		status = "expired"
	}
	return invitationView{i.ID, i.Email, i.Role, status, i.InvitedBy, i.CreatedAt, i.ExpiresAt}
}

// invite creates an invitation and mails its token; the token is never in
// the response, so only the invited mailbox can accept.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, own string) {
	var body struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if !decode(w, r, &body) {
		return
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(body.Email))
	if err != nil || addr.Name != "" || len(addr.Address) > 254 {
		fail(w, http.StatusBadRequest, "invalid_request", "email must be a plain email address.")
		return
	}
	if body.Role == "" {
		body.Role = "member"
	}
	if !roles.MayGrant(own, body.Role) {
		fail(w, http.StatusForbidden, "forbidden", "You cannot grant the role "+body.Role+".")
		return
	}
	now := h.Now().UTC()
	ttl := h.InvitationTTL
	if ttl <= 0 {
		ttl = DefaultInvitationTTL
	}
	token := random.Token(32)
	inv := storage.Invitation{ID: random.ID(), OrgID: o.ID, Email: strings.ToLower(addr.Address), Role: body.Role,
		TokenHash: storage.HashSecret(token), InvitedBy: c.user.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := h.Store.CreateInvitation(r.Context(), inv, h.event(r, manage.EventInvitationCreated, c, o, "",
		map[string]string{"invitation": inv.ID, "role": inv.Role})); err != nil {
		h.internal(w, r, "invitation", err)
		return
	}
	if h.SendInvitation != nil {
		if err := h.SendInvitation(r.Context(), Invitation{To: inv.Email, OrgSlug: o.Slug, OrgName: o.Name, Role: inv.Role,
			InvitedBy: c.user.Name, Token: token, ExpiresAt: inv.ExpiresAt}); err != nil {
			// The invitation stands; the admin can revoke and resend.
			h.internal(w, r, "send invitation", err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, h.viewInvitation(inv))
}

// Invitation is what the mail to an invited person needs.
type Invitation struct {
	To, OrgSlug, OrgName, Role, InvitedBy, Token string
	ExpiresAt                                    time.Time
}

func (h *Handler) listInvitations(w http.ResponseWriter, r *http.Request, _ caller, o storage.Organization, _ string) {
	list, err := h.Store.InvitationsOf(r.Context(), o.ID)
	if err != nil {
		h.internal(w, r, "invitations", err)
		return
	}
	out := make([]invitationView, 0, len(list))
	for _, i := range list {
		out = append(out, h.viewInvitation(i))
	}
	writeJSON(w, http.StatusOK, map[string]any{"invitations": out})
}

func (h *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request, c caller, o storage.Organization, _ string) {
	id := mux.Vars(r)["invitation"]
	err := h.Store.RevokeInvitation(r.Context(), o.ID, id, h.Now().UTC(), h.event(r, manage.EventInvitationRevoked, c, o, "", map[string]string{"invitation": id}))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		notFound(w)
	case err != nil:
		h.internal(w, r, "revoke invitation", err)
	default:
		w.WriteHeader(http.StatusNoContent)
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
	if !c.user.EmailVerified {
		fail(w, http.StatusForbidden, "email_unverified", "Verify your email address before accepting an invitation.")
		return
	}
	ev := h.event(r, manage.EventInvitationAccepted, c, storage.Organization{}, c.user.ID, nil)
	// The inviter must still be able to grant the role: an invitation
	// carries no more authority than its inviter has now.
	inviterMay := func(inviterRole, invitedRole string, platformAdmin bool) bool {
		return platformAdmin || roles.MayGrant(inviterRole, invitedRole)
	}
	inv, err := h.Store.AcceptInvitation(r.Context(), storage.HashSecret(strings.TrimSpace(body.Token)), c.user, h.Now().UTC(), inviterMay, ev)
	switch {
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
