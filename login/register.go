package login

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

type registerData struct {
	ID, CSRF, Error, Name, Email, Company, SignIn string
	MinLength                                     int
	// Invitation is the token of the invitation the account is created
	// for; InvitedEmail its address, the only one the form takes then.
	Invitation, InvitedEmail string
}

// registrationOpen says whether this registration may go ahead: open
// registration, or (invite_only) one for a pending invitation, whose
// address it returns.
func (h *Handler) registrationOpen(w http.ResponseWriter, r *http.Request, invitation string) (invitedEmail string, ok bool) {
	if invitation != "" && h.Invitations != nil && (h.cfg.Registration == "open" || h.cfg.Registration == "invite_only") {
		inv, err := h.Invitations.InvitationByToken(r.Context(), invitation)
		switch {
		case err == nil && inv.Pending(h.now()):
			return inv.Email, true
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.fail(w, r, "invitation", err)
			return "", false
		}
		h.Error(w, r, http.StatusBadRequest, "This invitation can no longer be used. Ask for a new one.", "reason", "registration with an unusable invitation")
		return "", false
	}
	switch h.cfg.Registration {
	case "open":
		return "", true
	case "invite_only":
		h.Error(w, r, http.StatusForbidden, "Accounts are created by invitation only. Ask your organization's administrator for one.")
	default:
		h.Error(w, r, http.StatusForbidden, "New accounts cannot be created here.")
	}
	return "", false
}

func (h *Handler) registerPage(w http.ResponseWriter, r *http.Request) {
	invitation := r.URL.Query().Get("invitation")
	invited, ok := h.registrationOpen(w, r, invitation)
	if !ok {
		return
	}
	id := r.URL.Query().Get("id")
	h.render(w, r, http.StatusOK, "register", registerData{ID: id, CSRF: h.csrfToken(h.Cookies.EnsureBrowserID(w, r)),
		SignIn: signInLink(id), MinLength: h.cfg.PasswordPolicy.MinLengthWithoutMFA, Invitation: invitation, InvitedEmail: invited, Email: invited})
}

func signInLink(id string) string {
	if id == "" {
		return "/account"
	}
	return "/login?id=" + url.QueryEscape(id)
}

// registerSubmit creates the account, or, for an email that already has
// one, emails its owner instead: both answer the same page, so the form
// does not reveal which addresses are registered.
func (h *Handler) registerSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	invited, ok := h.registrationOpen(w, r, r.PostForm.Get("invitation"))
	if !ok {
		return
	}
	ctx := r.Context()
	f := r.PostForm
	d := registerData{ID: f.Get("id"), CSRF: f.Get("csrf"), Name: strings.TrimSpace(f.Get("name")), Email: strings.ToLower(strings.TrimSpace(f.Get("email"))),
		Company: strings.TrimSpace(f.Get("company")), SignIn: signInLink(f.Get("id")), MinLength: h.cfg.PasswordPolicy.MinLengthWithoutMFA,
		Invitation: f.Get("invitation"), InvitedEmail: invited}
	if invited != "" {
		// An invitation's account is for its address: the invitation
		// cannot open registration for anyone else (invite_only).
		d.Email, d.Company = invited, ""
		d.SignIn = "/invitations/accept?token=" + url.QueryEscape(d.Invitation)
	}
	domain := ""
	if at := strings.LastIndexByte(d.Email, '@'); at > 0 && at < len(d.Email)-1 && len(d.Email) <= 254 && !strings.ContainsAny(d.Email, " <>,;") {
		domain = d.Email[at+1:]
	}
	switch {
	case d.Name == "" || len(d.Name) > 200:
		d.Error = "Enter your name."
	case domain == "":
		d.Error = "Enter a valid email address."
	case d.Company != "" && manage.CheckOrgName(d.Company) != nil: // the organization's name rule
		d.Error = "The company name is too long."
	}
	if d.Error == "" {
		reason, err := policyReason(h.Hasher.CheckPolicy(ctx, h.cfg.PasswordPolicy, f.Get("password"), false, d.Email, d.Name, d.Company))
		if err != nil {
			h.fail(w, r, "password policy", err)
			return
		}
		d.Error = reason
	}
	if d.Error != "" {
		h.render(w, r, http.StatusBadRequest, "register", d)
		return
	}
	existing, err := h.Store.UserByEmail(ctx, d.Email)
	switch {
	case err == nil:
		// The same work as a new account (one password hash), so the time
		// of the answer does not tell that the address has one.
		if _, err := h.Hasher.Hash(ctx, f.Get("password")); err != nil {
			h.fail(w, r, "register", err)
			return
		}
		h.mail(r, existing.Email, mailExisting, map[string]any{"Link": h.cfg.Issuer + "/forgot"})
		_ = h.Store.AppendAudit(ctx, h.aboutByAnyone(r, manage.EventRegistrationExistingEmail, existing.ID))
	case errors.Is(err, storage.ErrNotFound):
		if err := h.createAccount(r, d, f.Get("password"), domain); err != nil {
			h.fail(w, r, "register", err)
			return
		}
	default:
		h.fail(w, r, "register", err)
		return
	}
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Check your email",
		Message: "We sent a message to {{.Email}}. Open the link in it to confirm your address, then sign in.", Data: map[string]any{"Email": d.Email},
		Link: d.SignIn, LinkText: "Continue to sign in"})
}

// createAccount stores the user and sends the verification link. With a
// company name it creates the company's organization with the user as its
// owner, in the same transaction. Nobody joins an existing organization
// here: joining by email domain waits for the verified address (see
// joinByDomain), and the organization must have opted in.
func (h *Handler) createAccount(r *http.Request, d registerData, pw, domain string) error {
	ctx := r.Context()
	hash, err := h.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	u := storage.User{Email: d.Email, Name: d.Name, PasswordHash: hash}
	ev := h.audit(r, manage.EventUserRegistered, "", "", map[string]string{"domain": domain})
	if d.Company == "" {
		if u, err = h.Store.CreateUser(ctx, u, ev); err != nil {
			return err
		}
		return h.sendVerification(r, u, continueID(d.ID))
	}
	for range 3 { // a slug taken by chance gets another suffix
		var created storage.User
		created, _, err = h.Store.CreateUserWithOrganization(ctx, u, storage.Organization{Slug: manage.SlugFor(d.Company, random.ID()[:6]),
			Name: d.Company}, ev, h.audit(r, manage.EventOrganizationCreated, "", "", map[string]string{"by": "registration"}))
		if err == nil {
			return h.sendVerification(r, created, continueID(d.ID))
		}
		if !errors.Is(err, storage.ErrConflict) {
			return err
		}
		if _, lerr := h.Store.UserByEmail(ctx, d.Email); lerr == nil {
			return nil // registered meanwhile (a double submit): nothing more to do
		}
	}
	return err
}

// sendVerification emails a single-use verification link; id is the
// sign-in the registration interrupted ("" for none), which the link
// carries so that confirming goes back to it.
func (h *Handler) sendVerification(r *http.Request, u storage.User, id string) error {
	tok, now := random.Token(32), h.now()
	if err := h.Store.CreateActionToken(r.Context(), storage.ActionToken{Hash: storage.HashSecret(tok), Purpose: storage.PurposeVerifyEmail,
		UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(h.cfg.EmailVerificationTTL)}, h.audit(r, manage.EventEmailVerificationSent, u.ID, "", nil)); err != nil {
		return err
	}
	h.mail(r, u.Email, mailVerify, map[string]any{"Name": u.Name, "Duration": h.cfg.EmailVerificationTTL,
		"Link": h.cfg.Issuer + "/verify-email?token=" + tok + continueParam(id)})
	return nil
}

// verifyEmailPage shows what the confirmation link will confirm and asks
// for a click: opening a link (a GET, which mail scanners do on their
// own) confirms nothing.
func (h *Handler) verifyEmailPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	t, err := h.Store.ActionTokenState(r.Context(), storage.HashSecret(token), storage.PurposeVerifyEmail, h.now())
	switch {
	case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed):
		h.render(w, r, http.StatusBadRequest, "notice", notice{Title: "This link no longer works",
			Message: "This link is no longer valid. Sign in and ask for a new one from your account page.", Link: "/account", LinkText: "Go to your account"})
		return
	case err != nil:
		h.fail(w, r, "verify email", err)
		return
	}
	u, err := h.Store.UserByID(r.Context(), t.UserID)
	if err != nil {
		h.fail(w, r, "verify email", err)
		return
	}
	h.render(w, r, http.StatusOK, "confirm", map[string]string{"CSRF": h.csrfToken(h.Cookies.EnsureBrowserID(w, r)), "Token": token,
		"ID": continueID(r.URL.Query().Get("id")), "Email": u.Email})
}

// verifyEmail confirms the address (the confirm page's form).
func (h *Handler) verifyEmail(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	t, err := h.Store.ConsumeActionToken(ctx, storage.HashSecret(r.PostForm.Get("token")), storage.PurposeVerifyEmail, h.now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
			h.Error(w, r, http.StatusBadRequest, "This link is no longer valid. Sign in and ask for a new one from your account page.")
			return
		}
		h.fail(w, r, "verify email", err)
		return
	}
	u, err := h.Store.UserByID(ctx, t.UserID)
	if err != nil {
		h.fail(w, r, "verify email", err)
		return
	}
	if err := h.Store.UpdateProfile(ctx, u.ID, u.Name, true, h.audit(r, manage.EventEmailVerified, u.ID, "", nil)); err != nil {
		h.fail(w, r, "verify email", err)
		return
	}
	u.EmailVerified = true
	if err := h.joinByDomain(r, u); err != nil {
		h.fail(w, r, "join by domain", err)
		return
	}
	// Registered from a sign-in, in this browser: the password chosen at
	// registration and the mailbox just proved complete the password step,
	// and the sign-in goes on to the application.
	if id := continueID(r.PostForm.Get("id")); id != "" && h.continueSignIn(w, r, id, u, "") {
		return
	}
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Email confirmed", Message: "{{.Email}} is confirmed. You can close this page or go to your account.",
		Data: map[string]any{"Email": u.Email},
		Link: "/account", LinkText: "Go to your account"})
}

// joinByDomain makes a user whose address was just verified a member of
// the organization that verified its domain, when that organization opted
// in (join_by_domain) and the user is not a member yet.
func (h *Handler) joinByDomain(r *http.Request, u storage.User) error {
	ctx := r.Context()
	at := strings.LastIndexByte(u.Email, '@')
	if at < 0 || !u.EmailVerified {
		return nil
	}
	org, err := h.Store.OrganizationByVerifiedDomain(ctx, u.Email[at+1:])
	if errors.Is(err, storage.ErrNotFound) || err == nil && !org.JoinByDomain {
		return nil
	}
	if err != nil {
		return err
	}
	ms, err := h.Store.MembershipsByUser(ctx, u.ID)
	if err != nil || slices.ContainsFunc(ms, func(m storage.Membership) bool { return m.OrgID == org.ID }) {
		return err
	}
	ev := h.audit(r, manage.EventMembershipAdded, u.ID, "", map[string]string{"org": org.Slug, "role": "member", "by": "verified_domain"})
	ev.OrgID = org.ID
	return h.Store.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: "member"}, ev)
}
