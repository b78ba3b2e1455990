package login

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

var (
	mailEmailChange = mailText{Subject: "Confirm your new email address",
		Body: "The {{.Product}} account of {{.Old}} asks to use this address instead. If that is your account, sign in to it and confirm within {{.Duration}}:\n\n{{.Link}}\n\nIf it is not yours, ignore this message: nothing changes."}
	mailEmailChanged = mailText{Subject: "Your email address was changed",
		Body: "The address of your {{.Product}} account was changed from {{.Old}} to {{.New}}.\n\nIf it was not you, reset your password from {{.Link}} and tell your administrator."}
)

// accountEmail asks to change the person's address: after their password,
// a link goes to the new address, and only confirming it changes
// anything. The answer is the same whoever has that address.
func (h *Handler) accountEmail(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(r.PostForm.Get("email")))
	if err != nil || addr.Name != "" || len(addr.Address) > 254 {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: "Enter a valid email address."})
		return
	}
	newAddr := strings.ToLower(addr.Address)
	if newAddr == u.Email {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: "That is already your address."})
		return
	}
	// An address on a domain whose organization signs its people in
	// through its own identity provider is that organization's: moving
	// away from it would escape the company sign-in.
	if conn, err := h.homeRealm(r.Context(), u.Email); err != nil {
		h.fail(w, r, "home realm", err)
		return
	} else if conn != "" {
		h.accountView(w, r, s, u, http.StatusForbidden, accountData{Error: "Your organization manages your address. Ask its administrators to change it."})
		return
	}
	if !h.reauth(w, r, s, u, r.PostForm.Get("password"), "email change") {
		return
	}
	tok, now := random.Token(32), h.now()
	if err := h.Store.CreateActionToken(r.Context(), storage.ActionToken{Hash: storage.HashSecret(tok), Purpose: storage.PurposeChangeEmail,
		UserID: u.ID, Data: newAddr, CreatedAt: now, ExpiresAt: now.Add(h.cfg.EmailVerificationTTL)},
		h.audit(r, manage.EventEmailChangeRequested, u.ID, "", nil)); err != nil {
		h.fail(w, r, "email change", err)
		return
	}
	h.mail(r, newAddr, mailEmailChange, map[string]any{"Old": u.Email, "Duration": h.cfg.EmailVerificationTTL,
		"Link": h.cfg.Issuer + "/account/email/confirm?token=" + tok})
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "We sent a link to the new address. Your address changes when you confirm it there."})
}

// accountEmailPage shows what the link will change and asks for a click.
func (h *Handler) accountEmailPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	t, err := h.Store.ActionTokenState(r.Context(), storage.HashSecret(token), storage.PurposeChangeEmail, h.now())
	switch {
	case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed):
		h.render(w, r, http.StatusBadRequest, "notice", notice{Title: "This link no longer works",
			Message: "Ask for the change again from your account page.", Link: "/account", LinkText: "Go to your account"})
		return
	case err != nil:
		h.fail(w, r, "email change", err)
		return
	}
	u, err := h.Store.UserByID(r.Context(), t.UserID)
	if err != nil {
		h.fail(w, r, "email change", err)
		return
	}
	// Only the account's holder, signed in here, confirms: a link sent to
	// someone else's mailbox cannot attach their address to an account
	// that is not theirs.
	if _, cur, live, err := h.currentSession(r.Context(), r); err != nil || !live || cur.ID != u.ID {
		h.render(w, r, http.StatusOK, "notice", notice{Title: "Sign in to confirm",
			Message: "Sign in to your account in this browser, then open the link again. If you do not have that account, ignore the link.",
			Link:    "/account/signin", LinkText: "Sign in"})
		return
	}
	h.render(w, r, http.StatusOK, "confirm", map[string]string{"CSRF": h.csrfToken(h.Cookies.EnsureBrowserID(w, r)), "Token": token,
		"Email": t.Data, "Old": u.Email, "Action": "/account/email/confirm"})
}

// accountEmailConfirm changes the address (the new mailbox has proved
// itself) and tells the old one.
func (h *Handler) accountEmailConfirm(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	_, cur, live, err := h.currentSession(ctx, r)
	if err != nil {
		h.fail(w, r, "email change", err)
		return
	}
	state, err := h.Store.ActionTokenState(ctx, storage.HashSecret(r.PostForm.Get("token")), storage.PurposeChangeEmail, h.now())
	if err == nil && (!live || cur.ID != state.UserID) {
		h.render(w, r, http.StatusForbidden, "notice", notice{Title: "Sign in to confirm",
			Message: "Sign in to your account in this browser, then open the link again. If you do not have that account, ignore the link.",
			Link:    "/account/signin", LinkText: "Sign in"})
		return
	}
	t, err := h.Store.ConsumeActionToken(ctx, storage.HashSecret(r.PostForm.Get("token")), storage.PurposeChangeEmail, h.now())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
		h.render(w, r, http.StatusBadRequest, "notice", notice{Title: "This link no longer works",
			Message: "Ask for the change again from your account page.", Link: "/account", LinkText: "Go to your account"})
		return
	}
	if err != nil {
		h.fail(w, r, "email change", err)
		return
	}
	u, err := h.Store.UserByID(ctx, t.UserID)
	if err != nil {
		h.fail(w, r, "email change", err)
		return
	}
	old := u.Email
	err = h.Store.ChangeEmail(ctx, u.ID, t.Data, h.audit(r, manage.EventEmailChanged, u.ID, "", nil))
	if errors.Is(err, storage.ErrConflict) {
		h.render(w, r, http.StatusConflict, "notice", notice{Title: "That address is taken",
			Message: "Another account uses this address. Your address stays as it was.", Link: "/account", LinkText: "Go to your account"})
		return
	}
	if err != nil {
		h.fail(w, r, "email change", err)
		return
	}
	h.mail(r, old, mailEmailChanged, map[string]any{"Old": old, "New": t.Data, "Link": h.cfg.Issuer + "/forgot"})
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Email changed",
		Message: "Your account now uses the new address. We told the old one.", Link: "/account", LinkText: "Go to your account"})
}
