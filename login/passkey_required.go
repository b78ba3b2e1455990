package login

import (
	"errors"
	"net/http"
	"slices"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// An organization may require a passkey (MFA policy "passkey"), and a
// request may ask for one (acr_values urn:optibid:acr:phr). Such a
// sign-in ends only with a passkey and two factors. A member who has no
// passkey adds one during the sign-in, after proving themselves as they
// could before: with their usual second factor, or with the password
// alone when they have no factor at all (the same rule as a first
// authenticator, see mayEnroll). Then they use it, so the new passkey is
// shown to work before any code is issued.

const passkeysUnavailable = "Your organization requires a passkey to sign in, but passkeys are not available here. Contact your organization's support."

// passkeyOwed stops a sign-in that has just shown two factors but no
// passkey where one is required, before any session exists: the methods
// shown wait as the pending login (so this very sign-in, in this
// browser, may add a passkey), and the browser goes on to the user's
// passkey or to adding one. ticket's admission is taken back: the factor
// was right. On true the answer is written (the next step, or an error).
func (h *Handler) passkeyOwed(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u storage.User, amr []string, ticket *storage.Ticket) bool {
	if !slices.Contains(amr, "mfa") || phishingResistant(amr) {
		return false
	}
	d, err := h.mfaRequired(r.Context(), ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return true
	}
	if !d.passkey {
		return false
	}
	if h.passkeys == nil {
		h.Error(w, r, http.StatusForbidden, passkeysUnavailable)
		return true
	}
	if ticket != nil {
		if err := h.releaseAdmission(r.Context(), u.ID, ar.ClientID, *ticket, "checked_right"); err != nil {
			h.fail(w, r, "release admission", err)
			return true
		}
	}
	next := "/login/passkey/enroll?id="
	if d.f.passkeys > 0 {
		// The passkey is the second factor again.
		amr, next = slices.DeleteFunc(slices.Clone(amr), func(m string) bool { return m == "mfa" }), "/login/passkey/mfa?id="
	}
	if err := h.Store.SetPendingLogin(r.Context(), ar.ID, u.ID, amr, h.now()); err != nil {
		if errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
			h.Error(w, r, http.StatusBadRequest, "This sign-in was already completed. Return to the application.")
			return true
		}
		h.fail(w, r, "pending login", err)
		return true
	}
	http.Redirect(w, r, next+ar.ID, http.StatusSeeOther)
	return true
}

// toPasskey moves on a sign-in whose session has two factors but no
// passkey where one is required: to the sign-in form. The session's
// methods do not count towards it: a session alone (perhaps a borrowed
// cookie, which may have planted a passkey on the account page) never
// makes a passkey sign-in. The password and then the passkey do, or
// adding one after both factors (passkeyOwed).
func (h *Handler) toPasskey(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client) {
	if h.passkeys == nil {
		h.Error(w, r, http.StatusForbidden, passkeysUnavailable)
		return
	}
	h.showLogin(w, r, ar, c)
}

type passkeyEnrollData struct {
	ID, CSRF, Error string
	Max             int
}

// pendingPasskeyEnrollment is pendingLogin for adding a required passkey
// during a sign-in. It refuses (and sends the browser where it belongs)
// when no passkey is required, when the user already has one, and when
// the user has a second factor that this sign-in has not seen yet.
func (h *Handler) pendingPasskeyEnrollment(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, passkeyUser, bool) {
	ar, c, u, ok := h.pendingLogin(w, r, id)
	if !ok {
		return ar, passkeyUser{}, false
	}
	d, err := h.mfaRequired(r.Context(), ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return ar, passkeyUser{}, false
	}
	switch {
	case !d.passkey:
		http.Redirect(w, r, "/login/mfa?id="+ar.ID, http.StatusSeeOther)
		return ar, passkeyUser{}, false
	case h.passkeys == nil:
		h.Error(w, r, http.StatusForbidden, passkeysUnavailable)
		return ar, passkeyUser{}, false
	case d.f.passkeys > 0:
		http.Redirect(w, r, "/login/passkey/mfa?id="+ar.ID, http.StatusSeeOther)
		return ar, passkeyUser{}, false
	case d.f.any() && !slices.Contains(ar.PendingAMR, "mfa"):
		_ = h.Store.AppendAudit(r.Context(), h.audit(r, manage.EventEnrollmentRefused, u.ID, ar.ClientID, map[string]string{"reason": "has_factor"}))
		http.Redirect(w, r, "/login/mfa?id="+ar.ID, http.StatusSeeOther)
		return ar, passkeyUser{}, false
	}
	pu, _, err := h.passkeyUserOf(r, u)
	if err != nil {
		h.fail(w, r, "passkeys", err)
		return ar, pu, false
	}
	return ar, pu, true
}

func (h *Handler) passkeyEnrollPage(w http.ResponseWriter, r *http.Request) {
	ar, _, ok := h.pendingPasskeyEnrollment(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "passkeyenroll", passkeyEnrollData{ID: ar.ID, CSRF: h.csrfToken(h.Cookies.BrowserID(r)), Max: manage.PasskeyNameMax})
}

func (h *Handler) passkeyEnrollOptions(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, pu, ok := h.pendingPasskeyEnrollment(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	h.beginRegistration(w, r, pu, ar.ID)
}

// passkeyEnrollSubmit stores the new passkey and asks for it at once.
func (h *Handler) passkeyEnrollSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, pu, ok := h.pendingPasskeyEnrollment(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	again := func(status int, msg string) {
		h.render(w, r, status, "passkeyenroll", passkeyEnrollData{ID: ar.ID, CSRF: r.PostForm.Get("csrf"), Error: msg, Max: manage.PasskeyNameMax})
	}
	if r.PostForm.Get("credential") == "" {
		again(http.StatusBadRequest, "Adding a passkey needs JavaScript in this browser.")
		return
	}
	name, err := manage.PasskeyName(r.PostForm.Get("name"), h.defaultPasskeyName(r))
	var ve *manage.ValidationError
	if errors.As(err, &ve) {
		again(http.StatusBadRequest, ve.Msg)
		return
	}
	_, msg, status, err := h.addPasskey(r, pu, ar.ID, ar.ClientID, name)
	if err != nil {
		h.fail(w, r, "add passkey", err)
		return
	}
	if msg != "" {
		again(status, msg)
		return
	}
	http.Redirect(w, r, "/login/passkey/mfa?id="+ar.ID, http.StatusSeeOther)
}
