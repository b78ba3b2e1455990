package login

import (
	"github.com/optibid/idp/manage"

	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/optibid/idp/storage"
)

// pendingTTL bounds the time between the first and the second factor.
const pendingTTL = 10 * time.Minute

// factors is what a user can present as a second factor.
type factors struct {
	totp   bool
	backup int
	// phoneEnrolled: a verified phone; phone: and SMS can be sent to it.
	phoneEnrolled, phone bool
	email                bool
	passkeys             int
}

// any reports whether the user has a second factor of their own: an
// authenticator, a verified phone, backup codes (which come with one) or
// a passkey.
func (f factors) any() bool { return f.totp || f.phoneEnrolled || f.backup > 0 || f.passkeys > 0 }

// codes reports a second step other than a passkey that can be used now.
func (f factors) codes() bool { return f.totp || f.phone || f.backup > 0 || f.email }

func (h *Handler) factorsOf(ctx context.Context, u storage.User) (factors, error) {
	var f factors
	t, err := h.Store.TOTPByUser(ctx, u.ID)
	switch {
	case err == nil:
		f.totp = !t.ConfirmedAt.IsZero()
	case !errors.Is(err, storage.ErrNotFound):
		return f, err
	}
	if f.backup, err = h.Store.BackupCodesRemaining(ctx, u.ID); err != nil {
		return f, err
	}
	ps, err := h.Store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return f, err
	}
	f.passkeys = len(ps)
	f.phoneEnrolled = u.PhoneVerified && u.Phone != ""
	f.phone = f.phoneEnrolled && h.SMS != nil
	// An emailed code is a second factor only for a user who has no
	// stronger one: whoever controls the mailbox (say, after a password
	// reset) must not be able to stand in for the authenticator.
	f.email = u.EmailVerified && !f.any()
	return f, nil
}

// mfaDecision is what a sign-in must prove beyond its first step.
type mfaDecision struct {
	// need: a second factor is due (the user enrolled one, or a policy
	// requires one); byPolicy: a policy requires it.
	need, byPolicy bool
	// passkey: the sign-in must be phishing-resistant, a passkey with the
	// second factor (acr urn:optibid:acr:phr): an organization's policy or
	// the request's acr_values asks for it.
	passkey bool
	f       factors
	// org is what the user's organizations demand (read once per
	// decision: the verified-email rule uses it too).
	org orgRules
}

// mfaRequired decides what this login must prove: a second factor when
// the user enrolled one, an organization of theirs requires it, the
// client requires it, or the request asks for it (acr_values); a passkey
// when an organization's policy or the request demands one.
func (h *Handler) mfaRequired(ctx context.Context, ar storage.AuthRequest, c storage.Client, u storage.User) (mfaDecision, error) {
	var d mfaDecision
	var err error
	if d.f, err = h.factorsOf(ctx, u); err != nil {
		return d, err
	}
	if d.org, err = h.orgPolicy(ctx, u.ID); err != nil {
		return d, err
	}
	d.passkey = d.org.passkey || slices.Contains(ar.ACRValues, storage.ACRPhishingResistant)
	d.byPolicy = d.passkey || d.org.mfa || c.RequireMFA || slices.Contains(ar.ACRValues, storage.ACRMFA) || slices.Contains(ar.ACRValues, "mfa")
	d.need = d.byPolicy || d.f.any()
	return d, nil
}

// phishingResistant reports whether the methods amr meet a passkey
// requirement: a passkey and two factors (storage.ACRFor's phr).
func phishingResistant(amr []string) bool {
	return storage.ACRFor(amr) == storage.ACRPhishingResistant
}

// orgRules is what the user's organizations demand of every login.
type orgRules struct{ mfa, passkey, verifiedEmail bool }

// orgPolicy combines the policies of every organization the user is a
// member of: the strictest wins.
func (h *Handler) orgPolicy(ctx context.Context, userID string) (orgRules, error) {
	var p orgRules
	ms, err := h.Store.MembershipsByUser(ctx, userID)
	if err != nil {
		return p, err
	}
	for _, m := range ms {
		o, err := h.Store.OrganizationByID(ctx, m.OrgID)
		if err != nil {
			return p, err
		}
		p.passkey = p.passkey || o.MFAPolicy == manage.MFAPasskey
		p.mfa = p.mfa || p.passkey || o.MFAPolicy == manage.MFARequired
		p.verifiedEmail = p.verifiedEmail || o.RequireVerifiedEmail
	}
	return p, nil
}

// afterPassword continues a login whose password was right: straight to
// the session when no second factor is due, else to the MFA step. The
// failure counter is reset only when the whole login succeeds, so a known
// password cannot be used to reset the count of wrong second factors.
func (h *Handler) afterPassword(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u checkedUser, pw string) {
	d, err := h.mfaRequired(r.Context(), ar, c, u.User)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	if d.need {
		// The password was right: take back its own admission (and only
		// that), so an unfinished second step does not count against the
		// user; a wrong second factor will.
		if err := h.releaseAdmission(r.Context(), u.ID, ar.ClientID, u.ticket, "checked_right"); err != nil {
			h.fail(w, r, "release admission", err)
			return
		}
		h.toSecondFactor(w, r, ar, u.ID, []string{"pwd"})
		return
	}
	newHash := ""
	if u.needsRehash {
		newHash, _ = h.Hasher.Hash(r.Context(), pw) // on failure keep the old hash; rehash next time
	}
	h.completeLogin(w, r, ar, c, u.User, []string{"pwd"}, newHash, &u.ticket)
}

// afterPasskey continues a sign-in whose passkey was right, as
// afterPassword does after a password: a passkey with user verification
// is both factors (amr holds mfa); without it, it is one, and a second
// factor that is due is still asked for.
func (h *Handler) afterPasskey(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u storage.User, amr []string, ticket storage.Ticket) {
	if !slices.Contains(amr, "mfa") {
		d, err := h.mfaRequired(r.Context(), ar, c, u)
		if err != nil {
			h.fail(w, r, "mfa decision", err)
			return
		}
		if d.need {
			if err := h.releaseAdmission(r.Context(), u.ID, ar.ClientID, ticket, "checked_right"); err != nil {
				h.fail(w, r, "release admission", err)
				return
			}
			h.toSecondFactor(w, r, ar, u.ID, amr)
			return
		}
	}
	h.completeLogin(w, r, ar, c, u, amr, "", &ticket)
}

// toSecondFactor records the pending login and sends the browser on: to
// the passkey when the user has one and has not used it already, else to
// the other methods.
func (h *Handler) toSecondFactor(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, userID string, amr []string) {
	if err := h.Store.SetPendingLogin(r.Context(), ar.ID, userID, amr, h.now()); err != nil {
		if errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
			h.Error(w, r, http.StatusBadRequest, "This sign-in was already completed. Return to the application.")
			return
		}
		h.fail(w, r, "pending login", err)
		return
	}
	if h.passkeys != nil && !hasKey(amr) {
		ps, err := h.Store.PasskeysByUser(r.Context(), userID)
		if err != nil {
			h.fail(w, r, "passkeys", err)
			return
		}
		if len(ps) > 0 {
			http.Redirect(w, r, "/login/passkey/mfa?id="+ar.ID, http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/login/mfa?id="+ar.ID, http.StatusSeeOther)
}

// completeLogin issues a new SSO session for the user and moves the
// sign-in on. ticket is the admission of the credential check that got
// here (nil: none of ours, as for federation).
func (h *Handler) completeLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u storage.User, amr []string, newHash string, ticket *storage.Ticket) {
	if h.passkeyOwed(w, r, ar, c, u, amr, ticket) {
		return
	}
	s, ok := h.startSession(w, r, u, amr, newHash, ar.ClientID, ticket, time.Time{})
	if !ok {
		return
	}
	h.advance(w, r, ar, c, s, u, true, false)
}

// startSession stores a new session (taking back the failures counted up
// to the check's admission), ends this browser's old one and sets the
// cookie. When failures admitted after the check have locked the account
// (parallel guesses), nothing is stored and the sign-in fails like a
// wrong password: a right guess never gets in past that lock.
//
// authTime is when the person signed in; zero means now. A session that
// replaces another without a new sign-in (after a password change) keeps
// the old one's, so it cannot pass for a fresh sign-in with the old
// methods.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u storage.User, amr []string, newHash, clientID string, ticket *storage.Ticket, authTime time.Time) (storage.Session, bool) {
	ctx := r.Context()
	method := "password"
	switch {
	case ticket == nil:
		method = "federated"
	case hasKey(amr):
		method = "passkey"
	}
	s, raw := h.newSession(r, u.ID, amr)
	if !authTime.IsZero() {
		s.AuthTime = authTime
	}
	err := h.Store.LoginSucceeded(ctx, u.ID, ticket, h.now(), newHash, s, h.audit(r, manage.EventLoginSucceeded, u.ID, clientID, map[string]string{"amr": join(amr)}),
		h.audit(r, manage.EventAccountLockLifted, u.ID, clientID, map[string]string{"reason": "signed_in"}))
	if errors.Is(err, storage.ErrLocked) {
		h.metrics.logins.WithLabelValues(method, "raced").Inc()
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginRefused, u.ID, clientID, map[string]string{"reason": "locked_meanwhile"}))
		h.Error(w, r, http.StatusUnauthorized, badCredentials)
		return s, false
	}
	if err != nil {
		h.fail(w, r, "record login", err)
		return s, false
	}
	if old := h.Cookies.Get(r, sessionCookie); old != "" {
		_ = h.Store.RevokeSession(ctx, storage.HashSecret(old), h.now(), storage.AuditEvent{})
	}
	h.metrics.logins.WithLabelValues(method, "success").Inc()
	h.setSessionCookie(w, raw)
	return s, true
}

// step is what a sign-in still owes, in the order they are settled.
type step int

const (
	stepDone         step = iota
	stepAuthenticate      // no session this request may use
	stepSecondFactor      // a second factor is due and the session has none
	stepPasskey           // a passkey is required and the session has two factors without one
	stepVerifyEmail       // the client or an organization needs a verified email
	stepOrganization      // the organization of the login is not settled
	stepConsent           // the user must consent
)

// owed is the one place that decides what a sign-in still owes, from the
// request, its client and the browser's session (live reports whether
// there is one). Every handler that moves a sign-in forward goes through
// advance, which asks it: consent, enrollment, the organization choice
// and the MFA step each re-check everything before them, so no handler
// reaches a code by skipping a state. consented is true only for the
// consent handler, after the user allowed this very request.
func (h *Handler) owed(ctx context.Context, ar storage.AuthRequest, c storage.Client, s storage.Session, u storage.User, live, consented bool) (step, error) {
	// A sign-in made after this request began satisfies prompt=login and
	// max_age (the engine turns prompt=login into max_age=0).
	fresh := s.AuthTime.After(ar.CreatedAt)
	switch {
	case !live,
		slices.Contains(ar.Prompt, "login") && !fresh,
		ar.MaxAge != nil && !fresh && h.now().Sub(s.AuthTime) > time.Duration(*ar.MaxAge)*time.Second,
		ar.HintSubject != "" && ar.HintSubject != s.UserID:
		return stepAuthenticate, nil
	}
	d, err := h.mfaRequired(ctx, ar, c, u)
	if err != nil {
		return 0, err
	}
	if d.need && !slices.Contains(s.AMR, "mfa") {
		return stepSecondFactor, nil
	}
	if d.passkey && !phishingResistant(s.AMR) {
		return stepPasskey, nil
	}
	if !u.EmailVerified && (c.RequireVerifiedEmail || d.org.verifiedEmail) {
		return stepVerifyEmail, nil
	}
	if manage.WantsOrg(ar.Scopes) && ar.OrgID == "" {
		orgs, err := h.memberOrgs(ctx, u.ID)
		if err != nil {
			return 0, err
		}
		if len(orgs) > 0 || ar.OrgRequest != "" {
			return stepOrganization, nil
		}
	}
	if !consented {
		due, err := h.consentDue(ctx, ar, c, u.ID)
		if err != nil || due {
			return stepConsent, err
		}
	}
	return stepDone, nil
}

// advance moves a sign-in to what it owes next: the sign-in form, the
// second factor, the email notice, the organization choice, the consent
// page, or (nothing owed) the code. With prompt=none every step that needs
// the user answers the client with the matching error instead.
func (h *Handler) advance(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, s storage.Session, u storage.User, live, consented bool) {
	ctx := r.Context()
	silent := slices.Contains(ar.Prompt, "none")
	for range 2 { // an organization settled without asking takes one more turn
		st, err := h.owed(ctx, ar, c, s, u, live, consented)
		if err != nil {
			h.fail(w, r, "sign-in state", err)
			return
		}
		switch {
		case st == stepAuthenticate && silent:
			http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), ar, "login_required", "the user must sign in"), http.StatusFound)
		case st == stepAuthenticate:
			h.showLogin(w, r, ar, c)
		case st == stepSecondFactor && silent:
			http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), ar, "interaction_required", "a second factor is required"), http.StatusFound)
		case st == stepSecondFactor:
			// A session proves a sign-in, not who holds the browser now: a
			// user without a factor enrolls one only after entering the
			// password again (a stolen cookie enrolls nothing).
			f, err := h.factorsOf(ctx, u)
			if err != nil {
				h.fail(w, r, "factors", err)
				return
			}
			if !f.any() {
				h.showLogin(w, r, ar, c)
				return
			}
			h.toSecondFactor(w, r, ar, s.UserID, s.AMR)
		case st == stepPasskey && silent:
			http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), ar, "interaction_required", "a passkey is required"), http.StatusFound)
		case st == stepPasskey:
			h.toPasskey(w, r, ar, c)
		case st == stepVerifyEmail && silent:
			http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), ar, "interaction_required", "the user must verify their email address"), http.StatusFound)
		case st == stepVerifyEmail:
			h.render(w, r, http.StatusForbidden, "notice", notice{Title: "Verify your email first",
				Message: "{{.App}} needs a verified email address. Open the link we sent to {{.Email}}, then sign in again.",
				Data:    map[string]any{"App": c.Name, "Email": u.Email}})
		case st == stepOrganization:
			picked, ok := h.chooseOrg(w, r, &ar, c, u, silent)
			if ok && picked {
				continue
			}
		case st == stepConsent && silent:
			http.Redirect(w, r, h.ErrorRedirectURL(r.Context(), ar, "consent_required", "the user must grant consent"), http.StatusFound)
		case st == stepConsent:
			http.Redirect(w, r, "/consent?id="+ar.ID, http.StatusSeeOther)
		default:
			_ = h.Store.TouchSession(ctx, s.IDHash, h.now())
			h.finish(w, r, ar, s)
		}
		return
	}
	h.fail(w, r, "sign-in state", errors.New("login: organization choice did not settle"))
}

type notice struct {
	Title, Message, Link, LinkText string
	// Data fills the message's placeholders ({{.Email}}): names and
	// addresses stay out of the text that is translated.
	Data map[string]any
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
