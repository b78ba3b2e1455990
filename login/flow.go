package login

import (
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
	phone  bool
	email  bool
}

func (f factors) any() bool { return f.totp || f.phone }

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
	f.phone = u.PhoneVerified && u.Phone != "" && h.SMS != nil
	f.email = u.EmailVerified
	return f, nil
}

// mfaRequired decides whether this login needs a second factor: the user
// enrolled one, an organization of theirs requires it, the client
// requires it, or the request asks for it (acr_values).
func (h *Handler) mfaRequired(ctx context.Context, ar storage.AuthRequest, c storage.Client, u storage.User) (need, byPolicy bool, f factors, err error) {
	if f, err = h.factorsOf(ctx, u); err != nil {
		return false, false, f, err
	}
	byPolicy = c.RequireMFA || slices.Contains(ar.ACRValues, storage.ACRMFA) || slices.Contains(ar.ACRValues, "mfa")
	if !byPolicy {
		p, err := h.orgPolicy(ctx, u.ID)
		if err != nil {
			return false, false, f, err
		}
		byPolicy = p.mfa
	}
	return byPolicy || f.any(), byPolicy, f, nil
}

// orgRules is what the user's organizations demand of every login.
type orgRules struct{ mfa, verifiedEmail bool }

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
		p.mfa = p.mfa || o.MFAPolicy == "required"
		p.verifiedEmail = p.verifiedEmail || o.RequireVerifiedEmail
	}
	return p, nil
}

// afterPassword continues a login whose password was right: straight to
// the session when no second factor is due, else to the MFA step. The
// failure counter is reset only when the whole login succeeds, so a known
// password cannot be used to reset the count of wrong second factors.
func (h *Handler) afterPassword(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u checkedUser, pw string) {
	need, _, _, err := h.mfaRequired(r.Context(), ar, c, u.User)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	if need {
		h.toSecondFactor(w, r, ar, u.ID, []string{"pwd"})
		return
	}
	newHash := ""
	if u.needsRehash {
		newHash, _ = h.Hasher.Hash(r.Context(), pw) // on failure keep the old hash; rehash next time
	}
	h.completeLogin(w, r, ar, c, u.User, []string{"pwd"}, newHash)
}

// toSecondFactor records the pending login and sends the browser on.
func (h *Handler) toSecondFactor(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, userID string, amr []string) {
	if err := h.Store.SetPendingLogin(r.Context(), ar.ID, userID, amr, h.now()); err != nil {
		if errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
			h.Error(w, r, http.StatusBadRequest, "This sign-in was already completed. Return to the application.")
			return
		}
		h.fail(w, r, "pending login", err)
		return
	}
	http.Redirect(w, r, "/login/mfa?id="+ar.ID, http.StatusSeeOther)
}

// completeLogin issues a new SSO session for the user and continues the
// auth request (consent, or back to the client).
func (h *Handler) completeLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u storage.User, amr []string, newHash string) {
	s, ok := h.startSession(w, r, u, amr, newHash, ar.ClientID)
	if !ok {
		return
	}
	h.continueRequest(w, r, ar, c, u, s)
}

// startSession ends this browser's old session, stores a new one (which
// resets the failure counter) and sets its cookie.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u storage.User, amr []string, newHash, clientID string) (storage.Session, bool) {
	ctx := r.Context()
	if old := h.Cookies.Get(r, sessionCookie); old != "" {
		_ = h.Store.RevokeSession(ctx, storage.HashSecret(old), h.now(), storage.AuditEvent{})
	}
	s, raw := h.newSession(r, u.ID, amr)
	if err := h.Store.LoginSucceeded(ctx, u.ID, newHash, s, h.audit(r, "login_succeeded", u.ID, clientID, map[string]string{"amr": join(amr)})); err != nil {
		h.fail(w, r, "record login", err)
		return s, false
	}
	h.metrics.logins.WithLabelValues("success").Inc()
	h.setSessionCookie(w, raw)
	return s, true
}

// continueRequest finishes an auth request for a live session: email
// verification when the client requires it, consent when due, then back.
func (h *Handler) continueRequest(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u storage.User, s storage.Session) {
	if !h.chooseOrg(w, r, &ar, c, u) {
		return
	}
	if !u.EmailVerified {
		p, err := h.orgPolicy(r.Context(), u.ID)
		if err != nil {
			h.fail(w, r, "org policy", err)
			return
		}
		if c.RequireVerifiedEmail || p.verifiedEmail {
			h.render(w, r, http.StatusForbidden, "notice", notice{Title: "Verify your email first",
				Message: c.Name + " needs a verified email address. Open the link we sent to " + u.Email + ", then sign in again."})
			return
		}
	}
	due, err := h.consentDue(r.Context(), ar, c, u.ID)
	if err != nil {
		h.fail(w, r, "consent", err)
		return
	}
	if due {
		http.Redirect(w, r, "/consent?id="+ar.ID, http.StatusSeeOther)
		return
	}
	h.finish(w, r, ar, s)
}

type notice struct {
	Title, Message, Link, LinkText string
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
