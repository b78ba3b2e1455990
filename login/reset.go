package login

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

func (h *Handler) logWarn(r *http.Request, msg string, err error) {
	slog.WarnContext(r.Context(), msg, "error", err)
}

// continueID is the sign-in a forgot/reset trip belongs to (an auth
// request ID), or "" for none or a malformed one. It only says where to
// go on afterwards: the request is served only to the browser that
// started it, however the ID travels.
func continueID(v string) string {
	if len(v) != 32 || strings.Trim(v, "0123456789abcdef") != "" {
		return ""
	}
	return v
}

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgot", map[string]string{"CSRF": h.csrfToken(h.Cookies.EnsureBrowserID(w, r)),
		"ID": continueID(r.URL.Query().Get("id"))})
}

// forgotSubmit sends a reset link when the account exists, and answers the
// same page either way. The link is built from the configured issuer,
// never from the request's Host or X-Forwarded-Host.
func (h *Handler) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	u, err := h.Store.UserByEmail(ctx, email)
	switch {
	case err == nil && !u.Disabled:
		tok, now := random.Token(32), h.now()
		if err := h.Store.CreateActionToken(ctx, storage.ActionToken{Hash: storage.HashSecret(tok), Purpose: storage.PurposeResetPassword,
			UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(h.cfg.PasswordResetTTL)}, h.aboutByAnyone(r, manage.EventPasswordResetRequested, u.ID)); err != nil {
			h.fail(w, r, "reset token", err)
			return
		}
		// The link carries the sign-in that was going on, to go back to it.
		link := h.cfg.Issuer + "/reset?token=" + tok + continueParam(continueID(r.PostForm.Get("id")))
		h.mail(r, u.Email, mailReset, map[string]any{"Duration": h.cfg.PasswordResetTTL, "Link": link})
	case err == nil, errors.Is(err, storage.ErrNotFound):
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventPasswordResetRequested, "", "", map[string]string{"known": "false"}))
	default:
		h.fail(w, r, "reset lookup", err)
		return
	}
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Check your email",
		Message: "If an account exists for {{.Email}}, we sent it a link to choose a new password. The link works once, for {{.Duration}}.",
		Data:    map[string]any{"Email": email, "Duration": i18n.Duration(h.Templates.Translator().Pick(r), h.cfg.PasswordResetTTL)}})
}

// resetPage checks the link before showing the form: an unusable link
// says so at once, with the way to a new one.
func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	token, id := r.URL.Query().Get("token"), continueID(r.URL.Query().Get("id"))
	_, err := h.Store.ActionTokenState(r.Context(), storage.HashSecret(token), storage.PurposeResetPassword, h.now())
	switch {
	case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed):
		h.deadLink(w, r, id)
		return
	case err != nil:
		h.fail(w, r, "reset link", err)
		return
	}
	h.render(w, r, http.StatusOK, "reset", map[string]string{"CSRF": h.csrfToken(h.Cookies.EnsureBrowserID(w, r)),
		"Token": token, "ID": id})
}

// deadLink answers an unknown, used or expired reset link: what happened
// and the next step.
func (h *Handler) deadLink(w http.ResponseWriter, r *http.Request, id string) {
	link := "/forgot"
	if id != "" {
		link += "?id=" + id
	}
	slog.InfoContext(r.Context(), "reset link refused", "reason", "unknown, used or expired")
	h.render(w, r, http.StatusBadRequest, "notice", notice{Title: "This link no longer works",
		Message: "Password reset links work once, for a limited time. Ask for a new one: it takes a minute.",
		Link:    link, LinkText: "Send me a new link"})
}

// resetSubmit consumes the link and sets the password. It signs the user
// in nowhere: the next login still asks for every factor, and every
// session and refresh token of the account is revoked.
func (h *Handler) resetSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx, now := r.Context(), h.now()
	id := continueID(r.PostForm.Get("id"))
	t, err := h.Store.ConsumeActionToken(ctx, storage.HashSecret(r.PostForm.Get("token")), storage.PurposeResetPassword, now)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
			h.deadLink(w, r, id)
			return
		}
		h.fail(w, r, "reset", err)
		return
	}
	u, err := h.Store.UserByID(ctx, t.UserID)
	if err != nil {
		h.fail(w, r, "reset", err)
		return
	}
	if u.Disabled { // a link sent before the account was disabled
		h.deadLink(w, r, "")
		return
	}
	f, err := h.factorsOf(ctx, u)
	if err != nil {
		h.fail(w, r, "reset", err)
		return
	}
	pw := r.PostForm.Get("password")
	reason, err := policyReason(h.Hasher.CheckPolicy(r.Context(), h.cfg.PasswordPolicy, pw, f.any(), u.Email, u.Name))
	if err != nil {
		h.fail(w, r, "password policy", err)
		return
	}
	if reason != "" {
		// The link was used up by this try: hand the page a fresh one with
		// the same deadline, so a weak first choice does not cost a new email.
		tok := random.Token(32)
		if err := h.Store.CreateActionToken(ctx, storage.ActionToken{Hash: storage.HashSecret(tok), Purpose: storage.PurposeResetPassword,
			UserID: u.ID, CreatedAt: now, ExpiresAt: t.ExpiresAt}, storage.AuditEvent{}); err != nil {
			h.fail(w, r, "reset", err)
			return
		}
		h.render(w, r, http.StatusBadRequest, "reset", map[string]string{"CSRF": r.PostForm.Get("csrf"), "Token": tok, "Error": reason, "ID": id})
		return
	}
	hash, err := h.Hasher.Hash(ctx, pw)
	if err != nil {
		h.fail(w, r, "reset hash", err)
		return
	}
	if err := h.Store.SetPassword(ctx, u.ID, hash, now, h.audit(r, manage.EventPasswordReset, u.ID, "", nil)); err != nil {
		h.fail(w, r, "reset", err)
		return
	}
	// An upstream link made on an email assertion ends with the account's
	// recovery: whoever controls the mailbox now decides, not an IdP that
	// once claimed the address.
	if _, err := h.Store.UnlinkEmailLinks(ctx, u.ID, h.audit(r, manage.EventEmailLinksRemoved, u.ID, "", nil)); err != nil {
		h.fail(w, r, "reset", err)
		return
	}
	h.clearSessionCookie(w)
	if id != "" && h.continueSignIn(w, r, id, u, pw) {
		return
	}
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Password changed",
		Message: "Your new password is set and every session was signed out.", Link: "/account", LinkText: "Sign in"})
}

// continueParam is the query parameter that carries a sign-in through an
// email link.
func continueParam(id string) string {
	if id == "" {
		return ""
	}
	return "&id=" + id
}

// continueSignIn carries on the sign-in a reset or a registration
// interrupted, when this browser started it and nobody has signed in to
// it yet: the user has just proved the mailbox and has chosen the
// password in this browser, which counts as the password step; whatever
// else is owed (a second factor, consent) still follows. It reports
// whether it answered.
func (h *Handler) continueSignIn(w http.ResponseWriter, r *http.Request, id string, u storage.User, pw string) bool {
	ctx := r.Context()
	ar, err := h.Store.AuthRequestByID(ctx, id)
	// A sign-in already on its second step may go on only for the same
	// person (who showed a passkey without a PIN, then set a password):
	// the second step is still asked for.
	if err != nil || ar.Done || (ar.PendingUserID != "" && ar.PendingUserID != u.ID) || !h.Cookies.SameBrowser(r, ar.BrowserHash) || u.Disabled {
		return false // another browser's, finished or unknown, or an account that cannot sign in: sign in as usual
	}
	// People of an organization with its own identity provider sign in
	// there (home-realm discovery), whatever proved their mailbox here.
	if conn, err := h.homeRealm(ctx, u.Email); err != nil || conn != "" {
		return false
	}
	c := storage.Client{ID: accountClient, Name: "your " + h.cfg.ProductName + " account"}
	if ar.ClientID != accountClient {
		if c, err = h.Clients.Client(ctx, ar.ClientID); err != nil {
			return false
		}
	}
	// Admitted like a password check, so the lockout counts it and a
	// locked account stays locked.
	ticket, err := h.Store.AdmitLogin(ctx, u.ID, h.cfg.Lockout, h.now(), h.audit(r, manage.EventAccountLocked, u.ID, "", nil))
	if err != nil {
		return false
	}
	u.PasswordHash = "" // not needed: the password was just set
	h.afterPassword(w, r, ar, c, checkedUser{User: u, ticket: ticket}, pw)
	return true
}
