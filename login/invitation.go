package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// Invitations finds and redeems organization invitations (the management
// layer's rules: the invited, verified address only, within the
// inviter's current rights).
type Invitations interface {
	InvitationByToken(ctx context.Context, token string) (storage.Invitation, error)
	AcceptInvitation(ctx context.Context, by manage.Actor, u storage.User, token string) (storage.Invitation, error)
}

type invitationData struct {
	CSRF, Token, OrgName, Role, Email string
	// State is pending, accepted, revoked, expired or unknown.
	State string
	// SignedInAs is the signed-in person's address ("" when nobody is).
	SignedInAs string
	// Unverified: the signed-in address is the invited one but not
	// confirmed yet.
	Unverified          bool
	SignIn, Register    string
	Error               string
	ErrorData           map[string]any // fills Error's placeholders
	RegistrationAllowed bool
}

// invitationPage shows an invitation from its mail link: the
// organization and role, and the way to accept it (sign in, or create an
// account with the invited address). The token in the link is the only
// thing that identifies the invitation; an unknown one says only that.
func (h *Handler) invitationPage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.invitationState(w, r, r.URL.Query().Get("token"))
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "invitation", d)
}

func (h *Handler) invitationState(w http.ResponseWriter, r *http.Request, token string) (invitationData, bool) {
	ctx := r.Context()
	d := invitationData{Token: token, State: "unknown", CSRF: h.csrfToken(h.Cookies.EnsureBrowserID(w, r))}
	if h.Invitations == nil {
		h.Error(w, r, http.StatusNotFound, "Invitations are not accepted here.", "reason", "no invitation service")
		return d, false
	}
	inv, err := h.Invitations.InvitationByToken(ctx, token)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return d, true
	case err != nil:
		h.fail(w, r, "invitation", err)
		return d, false
	}
	o, err := h.Store.OrganizationByID(ctx, inv.OrgID)
	if errors.Is(err, storage.ErrNotFound) {
		return d, true // the organization is gone
	}
	if err != nil {
		h.fail(w, r, "invitation organization", err)
		return d, false
	}
	d.OrgName, d.Role, d.Email, d.State = o.Name, inv.Role, inv.Email, manage.InvitationStatus(inv, h.now())
	_, u, signedIn, err := h.currentSession(ctx, r)
	if err != nil {
		h.fail(w, r, "session", err)
		return d, false
	}
	if signedIn {
		d.SignedInAs, d.Unverified = u.Email, strings.EqualFold(u.Email, inv.Email) && !u.EmailVerified
	}
	back := "/invitations/accept?token=" + url.QueryEscape(token)
	d.SignIn = "/console/login?" + url.Values{"next": {back}, "login_hint": {inv.Email}}.Encode()
	d.Register = "/register?" + url.Values{"invitation": {token}}.Encode()
	d.RegistrationAllowed = h.cfg.Registration == "open" || h.cfg.Registration == "invite_only"
	return d, true
}

// invitationAccept joins the signed-in person to the inviting
// organization and lands them in its console.
func (h *Handler) invitationAccept(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	token := r.PostForm.Get("token")
	d, ok := h.invitationState(w, r, token)
	if !ok {
		return
	}
	ctx := r.Context()
	_, u, signedIn, err := h.currentSession(ctx, r)
	if err != nil {
		h.fail(w, r, "session", err)
		return
	}
	if !signedIn {
		http.Redirect(w, r, d.SignIn, http.StatusSeeOther)
		return
	}
	inv, err := h.Invitations.AcceptInvitation(ctx, manage.ActorFrom(r, u.ID, ""), u, token)
	switch {
	case err == nil:
		o, err := h.Store.OrganizationByID(ctx, inv.OrgID)
		if err != nil {
			h.fail(w, r, "organization", err)
			return
		}
		http.Redirect(w, r, "/console/orgs/"+url.PathEscape(o.Slug), http.StatusSeeOther)
		return
	case errors.Is(err, manage.ErrEmailUnverified):
		d.Error, d.ErrorData = "Confirm your email address first: open the link we sent to {{.Email}}.", map[string]any{"Email": u.Email}
	case errors.Is(err, storage.ErrMismatch):
		d.Error, d.ErrorData = "This invitation was sent to {{.Email}}. Sign out, then sign in or create an account with that address.", map[string]any{"Email": d.Email}
	case errors.Is(err, storage.ErrRevoked):
		d.Error = "Whoever invited you can no longer give this role. Ask them for a new invitation."
	case errors.Is(err, storage.ErrConflict):
		d.Error, d.ErrorData = "You are already a member of {{.Org}}.", map[string]any{"Org": d.OrgName}
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrExpired):
		d.Error = "This invitation can no longer be used. Ask for a new one."
	default:
		h.fail(w, r, "accept invitation", err)
		return
	}
	h.render(w, r, http.StatusConflict, "invitation", d)
}
