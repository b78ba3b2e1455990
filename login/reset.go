package login

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

func (h *Handler) logWarn(r *http.Request, msg string, err error) {
	slog.WarnContext(r.Context(), msg, "error", err)
}

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgot", map[string]string{"CSRF": h.csrfToken(h.Cookies.EnsureBrowserID(w, r))})
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
			UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(h.cfg.PasswordResetTTL)}, h.audit(r, manage.EventPasswordResetRequested, u.ID, "", nil)); err != nil {
			h.fail(w, r, "reset token", err)
			return
		}
		h.sendMail(r, u.Email, "Reset your password",
			"Someone asked to reset the password of your "+h.cfg.ProductName+" account. Choose a new one within "+
				durationText(h.cfg.PasswordResetTTL)+":\n\n"+h.cfg.Issuer+"/reset?token="+tok+
				"\n\nAll your sessions will be signed out. If it was not you, ignore this message: your password stays as it is.")
	case err == nil, errors.Is(err, storage.ErrNotFound):
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventPasswordResetRequested, "", "", map[string]string{"known": "false"}))
	default:
		h.fail(w, r, "reset lookup", err)
		return
	}
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Check your email",
		Message: "If an account exists for " + email + ", we sent it a link to choose a new password. The link works once, for " +
			durationText(h.cfg.PasswordResetTTL) + "."})
}

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "reset", map[string]string{"CSRF": h.csrfToken(h.Cookies.EnsureBrowserID(w, r)),
		"Token": r.URL.Query().Get("token")})
}

// resetSubmit consumes the link and sets the password. It signs the user
// in nowhere: the next login still asks for every factor, and every
// session and refresh token of the account is revoked.
func (h *Handler) resetSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx, now := r.Context(), h.now()
	t, err := h.Store.ConsumeActionToken(ctx, storage.HashSecret(r.PostForm.Get("token")), storage.PurposeResetPassword, now)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
			h.Error(w, r, http.StatusBadRequest, "This reset link is no longer valid. Ask for a new one.")
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
		h.render(w, r, http.StatusBadRequest, "reset", map[string]string{"CSRF": r.PostForm.Get("csrf"), "Token": tok, "Error": reason})
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
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Password changed",
		Message: "Your new password is set and every session was signed out. Sign in again from your application."})
}
