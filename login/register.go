package login

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/login/notify"
	"github.com/optibid/idp/storage"
)

type registerData struct {
	ID, CSRF, Error, Name, Email, Company, SignIn string
	MinLength                                     int
}

func (h *Handler) registrationOpen(w http.ResponseWriter, r *http.Request) bool {
	switch h.cfg.Registration {
	case "open":
		return true
	case "invite_only":
		h.Error(w, r, http.StatusForbidden, "Accounts are created by invitation only. Ask your organization's administrator for one.")
	default:
		h.Error(w, r, http.StatusForbidden, "New accounts cannot be created here.")
	}
	return false
}

func (h *Handler) registerPage(w http.ResponseWriter, r *http.Request) {
	if !h.registrationOpen(w, r) {
		return
	}
	id := r.URL.Query().Get("id")
	h.render(w, r, http.StatusOK, "register", registerData{ID: id, CSRF: h.csrfToken(h.Cookies.EnsureBrowserID(w, r)),
		SignIn: signInLink(id), MinLength: h.cfg.PasswordPolicy.MinLengthWithoutMFA})
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
	if !h.registrationOpen(w, r) || !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	f := r.PostForm
	d := registerData{ID: f.Get("id"), CSRF: f.Get("csrf"), Name: strings.TrimSpace(f.Get("name")), Email: strings.ToLower(strings.TrimSpace(f.Get("email"))),
		Company: strings.TrimSpace(f.Get("company")), SignIn: signInLink(f.Get("id")), MinLength: h.cfg.PasswordPolicy.MinLengthWithoutMFA}
	domain := ""
	if at := strings.LastIndexByte(d.Email, '@'); at > 0 && at < len(d.Email)-1 && len(d.Email) <= 254 && !strings.ContainsAny(d.Email, " <>,;") {
		domain = d.Email[at+1:]
	}
	switch {
	case d.Name == "" || len(d.Name) > 200:
		d.Error = "Enter your name."
	case domain == "":
		d.Error = "Enter a valid email address."
	case len(d.Company) > 200:
		d.Error = "The company name is too long."
	}
	if d.Error == "" {
		reason, err := policyReason(h.cfg.PasswordPolicy.Check(f.Get("password"), false, d.Email, d.Name, d.Company))
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
		h.sendMail(r, existing.Email, "Someone tried to create an account with your email",
			"Someone tried to create a new "+h.cfg.ProductName+" account with this email address. You already have one.\n\n"+
				"If it was you, sign in or reset your password: "+h.cfg.Issuer+"/forgot\nIf it was not you, you can ignore this message.")
		_ = h.Store.AppendAudit(ctx, h.audit(r, "registration_existing_email", existing.ID, "", nil))
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
		Message: "We sent a message to " + d.Email + ". Open the link in it to confirm your address, then sign in.",
		Link:    d.SignIn, LinkText: "Continue to sign in"})
}

// createAccount stores the user, places them in an organization (the one
// that verified their email domain, or a new one for their company) and
// sends the verification link.
func (h *Handler) createAccount(r *http.Request, d registerData, pw, domain string) error {
	ctx := r.Context()
	hash, err := h.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	u, err := h.Store.CreateUser(ctx, storage.User{Email: d.Email, Name: d.Name, PasswordHash: hash},
		h.audit(r, "user_registered", "", "", map[string]string{"domain": domain}))
	if err != nil {
		return err
	}
	org, err := h.Store.OrganizationByVerifiedDomain(ctx, domain)
	role := "member"
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound) && d.Company != "":
		role = "owner"
		org, err = h.Store.UpsertOrganization(ctx, storage.Organization{Slug: slugFor(d.Company), Name: d.Company},
			h.audit(r, "organization_created", u.ID, "", map[string]string{"by": "registration"}))
		if err != nil {
			return err
		}
	case errors.Is(err, storage.ErrNotFound):
		org.ID = ""
	default:
		return err
	}
	if org.ID != "" {
		if err := h.Store.UpsertMembership(ctx, storage.Membership{UserID: u.ID, OrgID: org.ID, Role: role},
			h.audit(r, "membership_added", u.ID, "", map[string]string{"org": org.Slug, "role": role})); err != nil {
			return err
		}
	}
	return h.sendVerification(r, u)
}

// slugFor makes a unique-enough organization slug from a company name.
func slugFor(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = "org"
	}
	return s + "-" + strings.ToLower(random.Token(4))[:5]
}

// sendVerification emails a single-use verification link.
func (h *Handler) sendVerification(r *http.Request, u storage.User) error {
	tok, now := random.Token(32), h.now()
	if err := h.Store.CreateActionToken(r.Context(), storage.ActionToken{Hash: storage.HashSecret(tok), Purpose: storage.PurposeVerifyEmail,
		UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(h.cfg.EmailVerificationTTL)}, h.audit(r, "email_verification_sent", u.ID, "", nil)); err != nil {
		return err
	}
	h.sendMail(r, u.Email, "Confirm your email address",
		"Hello "+u.Name+",\n\nconfirm your email address for "+h.cfg.ProductName+" by opening this link within "+
			durationText(h.cfg.EmailVerificationTTL)+":\n\n"+h.cfg.Issuer+"/verify-email?token="+tok+"\n\nIf you did not sign up, ignore this message.")
	return nil
}

// sendMail sends and logs failures; the pages that trigger it answer the
// same either way, so a mail outage does not reveal account state.
func (h *Handler) sendMail(r *http.Request, to, subject, text string) {
	if err := h.Email.SendEmail(r.Context(), notify.Email{To: to, Subject: subject, Text: text}); err != nil {
		h.logWarn(r, "sending email failed", err)
	}
}

func durationText(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		if d == time.Hour {
			return "1 hour"
		}
		return itoa(int(d/time.Hour)) + " hours"
	}
	return itoa(int(d/time.Minute)) + " minutes"
}

func (h *Handler) verifyEmail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, err := h.Store.ConsumeActionToken(ctx, storage.HashSecret(r.URL.Query().Get("token")), storage.PurposeVerifyEmail, h.now())
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
	if err := h.Store.UpdateProfile(ctx, u.ID, u.Name, true, h.audit(r, "email_verified", u.ID, "", nil)); err != nil {
		h.fail(w, r, "verify email", err)
		return
	}
	h.render(w, r, http.StatusOK, "notice", notice{Title: "Email confirmed", Message: u.Email + " is confirmed. You can close this page or go to your account.",
		Link: "/account", LinkText: "Go to your account"})
}
