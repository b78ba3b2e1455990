package login

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/login/mfa"
	"github.com/optibid/idp/login/notify"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

type mfaData struct {
	ID, CSRF, Error, Notice string
	HasTOTP, HasBackup      bool
	Phone, Email            string
	Challenge, Channel      string
}

// pendingLogin loads an auth request with a login waiting for its second
// factor, for this browser, and the user; on failure the page is written.
func (h *Handler) pendingLogin(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, storage.User, bool) {
	ar, c, ok := h.requestAndClient(w, r, id)
	if !ok {
		return ar, c, storage.User{}, false
	}
	if ar.PendingUserID == "" || h.now().Sub(ar.PendingAt) > pendingTTL {
		// No password step behind this request (or too long ago): start over.
		http.Redirect(w, r, "/login?id="+ar.ID, http.StatusSeeOther)
		return ar, c, storage.User{}, false
	}
	u, err := h.Store.UserByID(r.Context(), ar.PendingUserID)
	if err != nil {
		h.fail(w, r, "load user", err)
		return ar, c, u, false
	}
	if u.Disabled || u.Locked(h.now()) {
		h.Error(w, r, http.StatusForbidden, badCredentials)
		return ar, c, u, false
	}
	return ar, c, u, true
}

func (h *Handler) mfaData(r *http.Request, ar storage.AuthRequest, f factors) mfaData {
	d := mfaData{ID: ar.ID, CSRF: h.csrfToken(h.Cookies.BrowserID(r)), HasTOTP: f.totp, HasBackup: f.backup > 0}
	u, _ := h.Store.UserByID(r.Context(), ar.PendingUserID)
	if f.phone {
		d.Phone = maskPhone(u.Phone)
	}
	if f.email {
		d.Email = maskEmail(u.Email)
	}
	return d
}

func (h *Handler) mfaPage(w http.ResponseWriter, r *http.Request) {
	ar, c, u, ok := h.pendingLogin(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	dec, err := h.mfaRequired(r.Context(), ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	f := dec.f
	if h.passkeyOnly(w, r, ar, dec) {
		return
	}
	if !f.any() && (dec.byPolicy || !f.email) {
		// Required, and nothing enrolled: enrollment is the second step.
		http.Redirect(w, r, "/login/mfa/enroll?id="+ar.ID, http.StatusSeeOther)
		return
	}
	d := h.mfaData(r, ar, f)
	if dec.passkey {
		d.Notice = "Your organization requires a passkey. Confirm it's you with your usual second step, then add a passkey."
	}
	if !f.codes() {
		if f.passkeys > 0 && h.passkeys != nil && !hasKey(ar.PendingAMR) {
			// Passkeys are the only second step: "another way" has
			// nothing else to offer.
			http.Redirect(w, r, "/login/passkey/mfa?id="+ar.ID, http.StatusSeeOther)
			return
		}
		if hasKey(ar.PendingAMR) {
			// The passkey was the first step (without a PIN or fingerprint,
			// so one factor) and passkeys are all the user has: the same
			// passkey cannot also be the second. The password, or the
			// company's sign-in, comes first; the passkey is then asked
			// for as the second step.
			msg := passkeyNotVerified
			if u.PasswordHash == "" {
				msg = passkeyNotVerifiedNoPassword
			}
			h.loginForm(w, r, ar, c, u.Email, msg)
			return
		}
		// A factor is enrolled (a phone) but cannot be used right now.
		d.Error = "Your second step cannot be used right now. Try again later."
	}
	h.render(w, r, http.StatusOK, "mfa", d)
}

const (
	passkeyNotVerified = "That passkey did not confirm it's you with a PIN or fingerprint, so it can only be your second step. Sign in with your password or your company's sign-in first, then use the passkey."
	// For someone without a password (who came through a company
	// sign-in): the reset link sets one, and the sign-in goes on from it.
	passkeyNotVerifiedNoPassword = "That passkey did not confirm it's you with a PIN or fingerprint, so it can only be your second step. Use your company's sign-in, or choose “Forgot password?” to set a password, then use the passkey."
)

// admitSecondFactor admits (and counts) a second-factor check like a
// password, atomically with the lock: a locked account's codes and
// passkeys are not even checked. On false the answer is written.
func (h *Handler) admitSecondFactor(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, u storage.User, now time.Time) (storage.Ticket, bool) {
	ctx := r.Context()
	ticket, err := h.Store.AdmitLogin(ctx, u.ID, h.cfg.Lockout, now, h.audit(r, manage.EventAccountLocked, u.ID, ar.ClientID, nil))
	if errors.Is(err, storage.ErrLocked) {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginRefused, u.ID, ar.ClientID, map[string]string{"reason": "locked"}))
		h.Error(w, r, http.StatusForbidden, badCredentials)
		return ticket, false
	}
	if err != nil {
		h.fail(w, r, "admit second factor", err)
		return ticket, false
	}
	if h.cfg.Lockout.Locks(ticket.Count) {
		h.metrics.lockouts.Inc()
	}
	return ticket, true
}

// passkeyOnly sends a sign-in that must end with a passkey away from the
// codes when the codes cannot help: to the user's passkey, or (no factor
// at all) to adding one. A user with a factor but no passkey proves
// themselves with it first. On true the answer is written.
func (h *Handler) passkeyOnly(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, d mfaDecision) bool {
	switch {
	case !d.passkey:
		return false
	case h.passkeys == nil:
		h.Error(w, r, http.StatusForbidden, passkeysUnavailable)
	case d.f.passkeys > 0 && !hasKey(ar.PendingAMR):
		http.Redirect(w, r, "/login/passkey/mfa?id="+ar.ID, http.StatusSeeOther)
	case d.f.passkeys > 0:
		// A passkey without user verification was the first step: a code
		// completes it as usual, and the result holds a passkey.
		return false
	case !d.f.any():
		http.Redirect(w, r, "/login/passkey/enroll?id="+ar.ID, http.StatusSeeOther)
	default:
		return false
	}
	return true
}

const wrongCode = "That code is not right, or was already used. Try again."

func (h *Handler) mfaSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	ar, c, u, ok := h.pendingLogin(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	code, now := r.PostForm.Get("code"), h.now()
	method := r.PostForm.Get("method")
	if method != "totp" && method != "backup" && method != "otp" {
		h.Error(w, r, http.StatusBadRequest, "The form could not be read. Please go back and try again.")
		return
	}
	dec, err := h.mfaRequired(ctx, ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	if h.passkeyOnly(w, r, ar, dec) {
		return
	}
	ticket, ok := h.admitSecondFactor(w, r, ar, u, now)
	if !ok {
		return
	}
	switch method {
	case "totp":
		method, err = "otp", h.checkTOTP(ctx, u.ID, code, now)
	case "backup":
		method, err = "otp", h.Store.UseBackupCode(ctx, u.ID, mfa.HashBackupCode(code), now, h.audit(r, manage.EventBackupCodeUsed, u.ID, ar.ClientID, nil))
	case "otp":
		method = "otp"
		if r.PostForm.Get("channel") == "sms" {
			method = "sms"
		}
		challenge := r.PostForm.Get("challenge")
		err = h.Store.VerifyOTPChallenge(ctx, challenge, ar.ID, mfa.HashOTPCode(challenge, code), h.cfg.OTPMaxAttempts, now)
	}
	if err != nil && !isWrongCode(err) {
		h.fail(w, r, "check second factor", err)
		return
	}
	factor := r.PostForm.Get("method")
	if factor == "otp" {
		factor = map[bool]string{true: "sms", false: "email"}[r.PostForm.Get("channel") == "sms"]
	}
	h.metrics.mfa.WithLabelValues(factor, map[bool]string{true: "success", false: "failure"}[err == nil]).Inc()
	if err != nil {
		// Counted at admission; the row says what it was.
		if aerr := h.Store.AppendAudit(ctx, h.audit(r, manage.EventMFAFailed, u.ID, ar.ClientID, map[string]string{"method": method})); aerr != nil {
			h.fail(w, r, "record mfa failure", aerr)
			return
		}
		h.metrics.logins.WithLabelValues("password", "bad_second_factor").Inc()
		d := h.mfaData(r, ar, dec.f)
		d.Error = wrongCode
		if r.PostForm.Get("method") == "otp" {
			d.Challenge, d.Channel = r.PostForm.Get("challenge"), r.PostForm.Get("channel")
		}
		h.render(w, r, http.StatusUnauthorized, "mfa", d)
		return
	}
	amr := append(slices.Clone(ar.PendingAMR), method, "mfa")
	h.completeLogin(w, r, ar, c, u, slices.Compact(amr), "", &ticket)
}

// isWrongCode: the failure is the user's (wrong, reused, expired code).
func isWrongCode(err error) bool {
	return errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrMismatch) ||
		errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrNotFound)
}

// checkTOTP accepts a code once: the store refuses a time step already used.
func (h *Handler) checkTOTP(ctx context.Context, userID, code string, now time.Time) error {
	t, err := h.Store.TOTPByUser(ctx, userID)
	if err != nil {
		return err
	}
	if t.ConfirmedAt.IsZero() {
		return storage.ErrNotFound
	}
	step, err := h.TOTP.Check(t.SecretSealed, userID, code, now)
	if err != nil {
		return err
	}
	return h.Store.UseTOTPStep(ctx, userID, step)
}

// mfaSend texts or emails a code for this login transaction.
func (h *Handler) mfaSend(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, c, u, ok := h.pendingLogin(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	dec, err := h.mfaRequired(r.Context(), ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	if h.passkeyOnly(w, r, ar, dec) {
		return
	}
	f := dec.f
	d := h.mfaData(r, ar, f)
	channel := r.PostForm.Get("channel")
	if (channel == "sms" && !f.phone) || (channel == "email" && !f.email) || (channel != "sms" && channel != "email") {
		d.Error = "That method is not available for your account."
		h.render(w, r, http.StatusBadRequest, "mfa", d)
		return
	}
	id, err := h.sendCode(r, u, ar.ID, channel)
	switch {
	case errors.Is(err, errTooManyCodes), errors.Is(err, notify.ErrLimited):
		d.Error = "Too many codes were sent. Wait a few minutes, or use another method."
		h.render(w, r, http.StatusTooManyRequests, "mfa", d)
		return
	case err != nil:
		slog.WarnContext(r.Context(), "sending code failed", "channel", channel, "error", err)
		d.Error = "We could not send the code right now. Try another method."
		h.render(w, r, http.StatusServiceUnavailable, "mfa", d)
		return
	}
	d.Challenge, d.Channel = id, channel
	d.Notice = "We sent a six-digit code. It is valid for 5 minutes."
	h.render(w, r, http.StatusOK, "mfa", d)
}

var errTooManyCodes = errors.New("login: too many codes sent")

// sendCode creates a challenge bound to transaction and sends its code.
// Sending is rate-limited per user; a failed send fails closed.
func (h *Handler) sendCode(r *http.Request, u storage.User, transaction, channel string) (string, error) {
	ctx, now := r.Context(), h.now()
	n, err := h.Store.CountOTPChallenges(ctx, u.ID, now.Add(-15*time.Minute))
	if err != nil {
		return "", err
	}
	if n >= h.cfg.OTPSendLimit {
		return "", errTooManyCodes
	}
	id, code := random.ID(), mfa.NewOTPCode()
	dest := u.Email
	if channel == "sms" {
		dest = u.Phone
	}
	c := storage.OTPChallenge{ID: id, AuthRequestID: transaction, UserID: u.ID, Channel: channel, Destination: dest,
		CodeHash: mfa.HashOTPCode(id, code), CreatedAt: now, ExpiresAt: now.Add(h.cfg.OTPTTL)}
	if err := h.Store.CreateOTPChallenge(ctx, c, h.audit(r, manage.EventOTPSent, u.ID, "", map[string]string{"channel": channel})); err != nil {
		return "", err
	}
	subject, body := h.compose(r, mailCode, map[string]any{"Code": code, "Duration": h.cfg.OTPTTL})
	if channel == "sms" {
		err = h.SMS.SendSMS(ctx, notify.SMS{To: dest, Body: body})
	} else {
		err = h.Email.SendEmail(ctx, notify.Email{To: dest, Subject: subject, Text: body})
	}
	if err != nil {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventOTPSendFailed, u.ID, "", map[string]string{"channel": channel}))
		return "", err
	}
	return id, nil
}

// mayEnroll: during a sign-in, a password alone may enroll a second factor
// only for a user who has none (forced enrollment). A user with a factor
// signs in with it; adding another needs it (NIST SP 800-63B §6.1.2.1), on
// the account page. On false the answer is written.
func (h *Handler) mayEnroll(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, u storage.User) bool {
	f, err := h.factorsOf(r.Context(), u)
	if err != nil {
		h.fail(w, r, "factors", err)
		return false
	}
	if f.any() {
		_ = h.Store.AppendAudit(r.Context(), h.audit(r, manage.EventEnrollmentRefused, u.ID, ar.ClientID, map[string]string{"reason": "has_factor"}))
		http.Redirect(w, r, "/login/mfa?id="+ar.ID, http.StatusSeeOther)
		return false
	}
	// Where a passkey is owed, the first factor to add is a passkey: an
	// authenticator app would not finish the sign-in.
	d, err := h.mfaRequired(r.Context(), ar, c, u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return false
	}
	if d.passkey {
		http.Redirect(w, r, "/login/passkey/enroll?id="+ar.ID, http.StatusSeeOther)
		return false
	}
	return true
}

type enrollData struct {
	ID, CSRF, Error, QR, Secret, Action, Reason string
	// URL is the otpauth:// link that opens an authenticator app on the
	// same phone (we build it, so the template may use it as a link).
	URL template.URL
}

// enrollPage starts TOTP enrollment inside a login, when a second factor
// is required and the user has none yet.
func (h *Handler) enrollPage(w http.ResponseWriter, r *http.Request) {
	ar, c, u, ok := h.pendingLogin(w, r, r.URL.Query().Get("id"))
	if !ok || !h.mayEnroll(w, r, ar, c, u) {
		return
	}
	h.renderEnroll(w, r, u, enrollData{ID: ar.ID, Action: "/login/mfa/enroll",
		Reason: "Your organization requires a second step when you sign in."}, http.StatusOK)
}

// enrollmentTTL is how long a started enrollment keeps its secret: a
// reload or a mistyped first code shows the same secret again (the user
// has already added it to their app); after this a new one is made.
const enrollmentTTL = 30 * time.Minute

// renderEnroll shows the pending enrollment's secret, or makes a fresh
// one, stores it unconfirmed and shows it.
func (h *Handler) renderEnroll(w http.ResponseWriter, r *http.Request, u storage.User, d enrollData, status int) {
	t, err := h.Store.TOTPByUser(r.Context(), u.ID)
	switch {
	case err == nil && !t.ConfirmedAt.IsZero():
		h.Error(w, r, http.StatusConflict, "An authenticator app is already set up for this account.")
		return
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		h.fail(w, r, "totp", err)
		return
	}
	var e mfa.Enrollment
	if err == nil && h.now().Sub(t.CreatedAt) < enrollmentTTL {
		e, err = h.TOTP.Reopen(t.SecretSealed, u.ID, u.Email)
	} else {
		if e, err = h.TOTP.Enroll(u.ID, u.Email); err == nil {
			err = h.Store.SaveTOTP(r.Context(), storage.TOTP{UserID: u.ID, SecretSealed: e.Sealed, CreatedAt: h.now()},
				h.audit(r, manage.EventTOTPEnrollmentStarted, u.ID, "", nil))
		}
	}
	if err != nil {
		h.fail(w, r, "totp enroll", err)
		return
	}
	d.CSRF, d.QR, d.Secret, d.URL = h.csrfToken(h.Cookies.BrowserID(r)), base64.StdEncoding.EncodeToString(e.QRPNG), groups(e.Secret), template.URL(e.URL)
	h.render(w, r, status, "enroll", d)
}

// groups spaces a secret in fours for typing it by hand.
func groups(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// confirmTOTP checks the first code of a pending enrollment and makes the
// first set of backup codes.
func (h *Handler) confirmTOTP(r *http.Request, u storage.User, code string) ([]string, error) {
	ctx, now := r.Context(), h.now()
	t, err := h.Store.TOTPByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if !t.ConfirmedAt.IsZero() {
		return nil, storage.ErrAlreadyUsed
	}
	step, err := h.TOTP.Check(t.SecretSealed, u.ID, code, now)
	if err != nil {
		return nil, err
	}
	if err := h.Store.ConfirmTOTP(ctx, u.ID, step, now, h.audit(r, manage.EventTOTPEnrolled, u.ID, "", nil)); err != nil {
		return nil, err
	}
	codes, hashes := mfa.NewBackupCodes()
	if err := h.Store.ReplaceBackupCodes(ctx, u.ID, hashes, now, h.audit(r, manage.EventBackupCodesGenerated, u.ID, "", nil)); err != nil {
		return nil, err
	}
	return codes, nil
}

func (h *Handler) enrollSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, c, u, ok := h.pendingLogin(w, r, r.PostForm.Get("id"))
	if !ok || !h.mayEnroll(w, r, ar, c, u) {
		return
	}
	codes, err := h.confirmTOTP(r, u, r.PostForm.Get("code"))
	if err != nil && isWrongCode(err) {
		h.renderEnroll(w, r, u, enrollData{ID: ar.ID, Action: "/login/mfa/enroll", Error: "That code is not right. Check the six digits your app shows for this account now and try again.",
			Reason: "Your organization requires a second step when you sign in."}, http.StatusUnauthorized)
		return
	}
	if err != nil {
		h.fail(w, r, "confirm totp", err)
		return
	}
	amr := slices.Compact(append(slices.Clone(ar.PendingAMR), "otp", "mfa"))
	if _, ok := h.startSession(w, r, u, amr, "", ar.ClientID, nil, time.Time{}); !ok {
		return
	}
	// The codes are shown once; the page's link continues the sign-in,
	// which the login page moves on to whatever it still owes.
	h.showBackupCodes(w, r, codes, "/login?id="+ar.ID)
}

// backupCodesText heads the backup-code file.
const backupCodesText = "{{.Product}} backup codes for your account ({{.Date}}). Each code works once, if you lose your authenticator."

// showBackupCodes shows new backup codes once, with ways to keep them: a
// text file to download (built here, so no script is needed), copying
// and printing.
func (h *Handler) showBackupCodes(w http.ResponseWriter, r *http.Request, codes []string, next string) {
	tr := h.Templates.Translator()
	lang := tr.Pick(r)
	// The file says what it is in the page's language.
	text := tr.T(lang, backupCodesText, map[string]any{"Product": h.cfg.ProductName, "Date": i18n.Date(lang, h.now(), false)}) + "\n\n" + strings.Join(codes, "\n") + "\n"
	h.render(w, r, http.StatusOK, "backupcodes", map[string]any{"Codes": codes, "Next": next, "Text": text,
		"Download": template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))})
}

func maskPhone(p string) string {
	if len(p) <= 4 {
		return p
	}
	return "•••• " + p[len(p)-4:]
}

func maskEmail(e string) string {
	at := -1
	for i := range e {
		if e[i] == '@' {
			at = i
		}
	}
	if at <= 1 {
		return e
	}
	return e[:1] + "•••" + e[at:]
}
