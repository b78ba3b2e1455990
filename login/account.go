package login

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/login/mfa"
	"github.com/optibid/idp/login/notify"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// accountClient is the built-in pseudo-client of the account page: its
// auth requests run the same login screens and end at /account instead of
// a code.
const accountClient = "_account"

// recentAuth: changes to factors and the password need a sign-in this
// recent (or the current password).
const recentAuth = 15 * time.Minute

func (h *Handler) registerAccount(r *mux.Router) {
	r.HandleFunc("/account", h.accountPage).Methods(http.MethodGet)
	r.HandleFunc("/account/signin", h.accountSignin).Methods(http.MethodGet)
	r.HandleFunc("/account/profile", h.accountProfile).Methods(http.MethodPost)
	r.HandleFunc("/account/password", h.accountPassword).Methods(http.MethodPost)
	r.HandleFunc("/account/totp", h.accountTOTPPage).Methods(http.MethodGet)
	r.HandleFunc("/account/totp", h.accountTOTPConfirm).Methods(http.MethodPost)
	r.HandleFunc("/account/totp/remove", h.accountTOTPRemove).Methods(http.MethodPost)
	r.HandleFunc("/account/backup-codes", h.accountBackupCodes).Methods(http.MethodPost)
	r.HandleFunc("/account/phone", h.accountPhone).Methods(http.MethodPost)
	r.HandleFunc("/account/phone/verify", h.accountPhoneVerify).Methods(http.MethodPost)
	r.HandleFunc("/account/sessions/end", h.accountEndSession).Methods(http.MethodPost)
	r.HandleFunc("/account/apps/disconnect", h.accountDisconnect).Methods(http.MethodPost)
	r.HandleFunc("/account/orgs/leave", h.accountLeave).Methods(http.MethodPost)
	r.HandleFunc("/account/identities/unlink", h.accountUnlink).Methods(http.MethodPost)
	r.HandleFunc("/account/email", h.accountEmail).Methods(http.MethodPost)
	r.HandleFunc("/account/email/confirm", h.accountEmailPage).Methods(http.MethodGet)
	r.HandleFunc("/account/email/confirm", h.accountEmailConfirm).Methods(http.MethodPost)
	r.HandleFunc("/account/export", h.accountExport).Methods(http.MethodPost)
	r.HandleFunc("/account/delete", h.accountDelete).Methods(http.MethodPost)
}

// accountSignin starts an internal login for the account page; fresh=1
// asks for the password even with a live session (re-authentication).
func (h *Handler) accountSignin(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ar := storage.AuthRequest{ID: random.ID(), ClientID: accountClient, RedirectURI: h.cfg.Issuer + "/account", Scopes: []string{"openid"},
		ResponseType: "code", BrowserHash: httpx.BrowserHash(h.Cookies.EnsureBrowserID(w, r)), CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
	if r.URL.Query().Get("fresh") == "1" {
		ar.Prompt = []string{"login"}
	}
	if err := h.Store.CreateAuthRequest(r.Context(), ar); err != nil {
		h.fail(w, r, "account sign-in", err)
		return
	}
	http.Redirect(w, r, "/login?id="+ar.ID, http.StatusFound)
}

// accountSession returns the live session or sends the browser to sign in.
func (h *Handler) accountSession(w http.ResponseWriter, r *http.Request) (storage.Session, storage.User, bool) {
	s, u, live, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.fail(w, r, "load session", err)
		return s, u, false
	}
	if !live {
		http.Redirect(w, r, "/account/signin", http.StatusSeeOther)
		return s, u, false
	}
	return s, u, true
}

type sessionView struct {
	storage.Session
	Ref    string
	Device string // e.g. "Firefox · Linux"
}

// eventView is an audit row as its person reads it.
type eventView struct {
	Time           time.Time
	What           string // plain words (a message ID)
	IP, Device     string
	OtherPersonAct bool // done to them by someone else (no address shown)
}

type accountData struct {
	CSRF, Error, Notice, Current, PhoneChallenge string
	User                                         storage.User
	TOTP                                         bool
	BackupLeft                                   int
	Sessions                                     []sessionView
	Events                                       []eventView
	// Apps are the applications the person let in (consents), described.
	Apps []appView
	// Orgs are the person's organizations and roles.
	Orgs []orgView
	// Identities are the person's linked company sign-ins.
	Identities []identityView
}

// appView is a connected application: its name, what it may do, since
// when.
type appView struct {
	ClientID, Name string
	Grants         []web.Phrase
	Since          time.Time
}

func (h *Handler) accountView(w http.ResponseWriter, r *http.Request, s storage.Session, u storage.User, status int, d accountData) {
	ctx := r.Context()
	f, err := h.factorsOf(ctx, u)
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	sessions, err := h.Store.SessionsByUser(ctx, u.ID, h.now())
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	// Only this user's own events: everything they did, and everything done to them.
	events, err := h.Store.ListAudit(ctx, storage.AuditFilter{SubjectID: u.ID, Limit: 20})
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	var views []eventView
	for _, ev := range events {
		v := eventView{Time: ev.Time, What: eventPhrase(ev.Type)}
		if ev.ActorID == u.ID || ev.ActorID == "" { // another person's address and browser are theirs
			v.IP, v.Device = ev.IP, device(ev.UserAgent)
		} else {
			v.OtherPersonAct = true
		}
		views = append(views, v)
	}
	if d.Orgs, err = h.accountOrgs(ctx, u.ID); err != nil {
		h.fail(w, r, "account", err)
		return
	}
	if d.Identities, err = h.accountIdentities(ctx, u.ID); err != nil {
		h.fail(w, r, "account", err)
		return
	}
	consents, err := h.Store.ConsentsOf(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	for _, c := range consents {
		name := c.ClientID
		if cl, err := h.Clients.Client(ctx, c.ClientID); err == nil && cl.Name != "" {
			name = cl.Name
		}
		app := appView{ClientID: c.ClientID, Name: name, Since: c.UpdatedAt}
		for _, sc := range c.Scopes {
			app.Grants = append(app.Grants, h.describeScope(sc, c.Resources))
		}
		d.Apps = append(d.Apps, app)
	}
	d.CSRF, d.User, d.TOTP, d.BackupLeft, d.Current, d.Events = h.csrfToken(h.Cookies.BrowserID(r)), u, f.totp, f.backup, s.IDHash, views
	for _, ss := range sessions {
		d.Sessions = append(d.Sessions, sessionView{Session: ss, Ref: ss.IDHash[:16], Device: device(ss.UserAgent)})
	}
	h.render(w, r, status, "account", d)
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountSession(w, r)
	if !ok {
		return
	}
	h.accountView(w, r, s, u, http.StatusOK, accountData{})
}

// accountForm checks CSRF and the session for an account POST.
func (h *Handler) accountForm(w http.ResponseWriter, r *http.Request) (storage.Session, storage.User, bool) {
	if !h.checkForm(w, r) {
		return storage.Session{}, storage.User{}, false
	}
	return h.accountSession(w, r)
}

// reauth checks the current password for a sensitive change. The check
// is admitted like a sign-in's (storage.AdmitLogin: counted before it
// runs, refused while the account is locked), so parallel guesses from a
// stolen session cannot outrun the lockout; a right password takes back
// its own admission. On any failure the account page is written with the
// reason and false returned; a locked account reads like a wrong password.
func (h *Handler) reauth(w http.ResponseWriter, r *http.Request, s storage.Session, u storage.User, pw, what string) bool {
	ctx := r.Context()
	wrong := func(reason string) bool {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventReauthFailed, u.ID, "", map[string]string{"for": what, "reason": reason}))
		h.accountView(w, r, s, u, http.StatusUnauthorized, accountData{Error: "The password is not right."})
		return false
	}
	ticket, err := h.Store.AdmitLogin(ctx, u.ID, h.cfg.Lockout, h.now(), h.audit(r, manage.EventAccountLocked, u.ID, "", nil))
	if errors.Is(err, storage.ErrLocked) {
		return wrong("locked")
	}
	if err != nil {
		h.fail(w, r, "password check", err)
		return false
	}
	if h.cfg.Lockout.Locks(ticket.Count) {
		h.metrics.lockouts.Inc()
	}
	ok, _, err := h.Hasher.Verify(ctx, u.PasswordHash, pw)
	switch {
	case errors.Is(err, password.ErrBusy) || errors.Is(err, context.Canceled):
		h.releaseShed(ctx, u.ID, ticket) // shed before the check: not a failure
		h.fail(w, r, "password check", err)
		return false
	case err != nil && !errors.Is(err, password.ErrMalformedHash):
		h.fail(w, r, "password check", err)
		return false
	case ok:
		if err := h.releaseAdmission(ctx, u.ID, "", ticket, "checked_right"); err != nil {
			h.fail(w, r, "password check", err)
			return false
		}
		return true
	}
	return wrong("wrong_password")
}

// policyReason returns the words of a password-policy refusal, or "" and
// the error when the check itself failed.
func policyReason(err error) (string, error) {
	var pe *password.PolicyError
	if err == nil {
		return "", nil
	}
	if errors.As(err, &pe) {
		return pe.Reason, nil
	}
	return "", err
}

func (h *Handler) accountProfile(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || len(name) > 200 {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: "Enter your name."})
		return
	}
	if err := h.Store.UpdateProfile(r.Context(), u.ID, name, u.EmailVerified, h.audit(r, manage.EventProfileUpdated, u.ID, "", nil)); err != nil {
		h.fail(w, r, "profile", err)
		return
	}
	u.Name = name
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "Saved."})
}

// accountPassword changes the password: the current one is required, and
// every session (this one included) and refresh token is revoked; this
// browser gets a fresh session.
func (h *Handler) accountPassword(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if !h.reauth(w, r, s, u, r.PostForm.Get("current"), "password_change") {
		return
	}
	f, err := h.factorsOf(ctx, u)
	if err != nil {
		h.fail(w, r, "password", err)
		return
	}
	pw := r.PostForm.Get("new")
	reason, err := policyReason(h.Hasher.CheckPolicy(r.Context(), h.cfg.PasswordPolicy, pw, f.any(), u.Email, u.Name))
	if err != nil {
		h.fail(w, r, "password policy", err)
		return
	}
	if reason != "" {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: reason})
		return
	}
	hash, err := h.Hasher.Hash(ctx, pw)
	if err != nil {
		h.fail(w, r, "password hash", err)
		return
	}
	if err := h.Store.SetPassword(ctx, u.ID, hash, h.now(), h.audit(r, manage.EventPasswordChanged, u.ID, "", nil)); err != nil {
		h.fail(w, r, "password", err)
		return
	}
	// A new session ID, the same sign-in: its methods and time stay (a
	// password change is not a sign-in). SetPassword cleared the lockout.
	s, ok = h.startSession(w, r, u, s.AMR, "", "", nil, s.AuthTime)
	if !ok {
		return
	}
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "Password changed. Every other session was signed out."})
}

// requireRecent sends the user to sign in again when their session is
// older than recentAuth.
func (h *Handler) requireRecent(w http.ResponseWriter, r *http.Request, s storage.Session) bool {
	if h.now().Sub(s.AuthTime) <= recentAuth {
		return true
	}
	http.Redirect(w, r, "/account/signin?fresh=1", http.StatusSeeOther)
	return false
}

func (h *Handler) accountTOTPPage(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountSession(w, r)
	if !ok || !h.requireRecent(w, r, s) {
		return
	}
	h.renderEnroll(w, r, u, enrollData{Action: "/account/totp", Reason: "Add a second step to your sign-in."}, http.StatusOK)
}

func (h *Handler) accountTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok || !h.requireRecent(w, r, s) {
		return
	}
	codes, err := h.confirmTOTP(r, u, r.PostForm.Get("code"))
	if err != nil && isWrongCode(err) {
		h.renderEnroll(w, r, u, enrollData{Action: "/account/totp", Error: "That code is not right. Check the six digits your app shows for this account now and try again.",
			Reason: "Add a second step to your sign-in."}, http.StatusUnauthorized)
		return
	}
	if err != nil {
		h.fail(w, r, "confirm totp", err)
		return
	}
	h.showBackupCodes(w, r, codes, "/account")
}

func (h *Handler) accountTOTPRemove(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if !h.reauth(w, r, s, u, r.PostForm.Get("password"), "totp_remove") {
		return
	}
	if err := h.Store.DeleteTOTP(ctx, u.ID, h.audit(r, manage.EventTOTPRemoved, u.ID, "", nil)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.fail(w, r, "remove totp", err)
		return
	}
	if err := h.Store.ReplaceBackupCodes(ctx, u.ID, nil, h.now(), storage.AuditEvent{}); err != nil {
		h.fail(w, r, "remove backup codes", err)
		return
	}
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "The authenticator app was removed."})
}

func (h *Handler) accountBackupCodes(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok || !h.requireRecent(w, r, s) {
		return
	}
	codes, hashes := mfa.NewBackupCodes()
	if err := h.Store.ReplaceBackupCodes(r.Context(), u.ID, hashes, h.now(), h.audit(r, manage.EventBackupCodesGenerated, u.ID, "", nil)); err != nil {
		h.fail(w, r, "backup codes", err)
		return
	}
	h.showBackupCodes(w, r, codes, "/account")
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// accountPhone (password required) stores an unverified number and texts
// it a code; the number is used for sign-in only once verified.
func (h *Handler) accountPhone(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	phone := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("phone")), " ", "")
	if h.SMS == nil {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: "Text messages are not available."})
		return
	}
	if !e164.MatchString(phone) {
		h.accountView(w, r, s, u, http.StatusBadRequest, accountData{Error: "Enter the number in international format, like +41791234567."})
		return
	}
	if !h.reauth(w, r, s, u, r.PostForm.Get("password"), "phone_change") {
		return
	}
	if err := h.Store.SetPhone(ctx, u.ID, phone, false, h.audit(r, manage.EventPhoneAdded, u.ID, "", nil)); err != nil {
		h.fail(w, r, "phone", err)
		return
	}
	u.Phone, u.PhoneVerified = phone, false
	id, err := h.sendCode(r, u, "phone:"+s.IDHash, "sms")
	if errors.Is(err, notify.ErrLimited) || errors.Is(err, errTooManyCodes) {
		h.accountView(w, r, s, u, http.StatusTooManyRequests, accountData{Error: "We cannot text this number right now (it is not served, or too many messages were sent). Use an authenticator app instead."})
		return
	}
	if err != nil {
		h.accountView(w, r, s, u, http.StatusServiceUnavailable, accountData{Error: "We could not send a text message right now. Try again later."})
		return
	}
	h.accountView(w, r, s, u, http.StatusOK, accountData{PhoneChallenge: id, Notice: "We texted you a code."})
}

func (h *Handler) accountPhoneVerify(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("challenge")
	err := h.Store.VerifyOTPChallenge(ctx, id, "phone:"+s.IDHash, mfa.HashOTPCode(id, r.PostForm.Get("code")), h.cfg.OTPMaxAttempts, h.now())
	if isWrongCode(err) {
		h.accountView(w, r, s, u, http.StatusUnauthorized, accountData{PhoneChallenge: id, Error: wrongCode})
		return
	}
	if err != nil {
		h.fail(w, r, "verify phone", err)
		return
	}
	if err := h.Store.SetPhone(ctx, u.ID, u.Phone, true, h.audit(r, manage.EventPhoneVerified, u.ID, "", nil)); err != nil {
		h.fail(w, r, "verify phone", err)
		return
	}
	u.PhoneVerified = true
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "Your phone is verified."})
}

// accountDisconnect withdraws the person's consent to an application and
// revokes what it holds for them (its refresh tokens stop working); its
// next sign-in asks again.
func (h *Handler) accountDisconnect(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	client := r.PostForm.Get("client")
	err := h.Store.RevokeConsent(r.Context(), u.ID, client, h.now(), h.audit(r, manage.EventConsentRevoked, u.ID, client, nil))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.accountView(w, r, s, u, http.StatusNotFound, accountData{Error: "That application is not connected to your account."})
	case err != nil:
		h.fail(w, r, "disconnect", err)
	default:
		h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "Disconnected. The application must ask you again to use your account."})
	}
}

// accountEndSession signs out another of the user's own sessions.
func (h *Handler) accountEndSession(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sessions, err := h.Store.SessionsByUser(ctx, u.ID, h.now())
	if err != nil {
		h.fail(w, r, "sessions", err)
		return
	}
	ref := r.PostForm.Get("session")
	i := slices.IndexFunc(sessions, func(x storage.Session) bool { return len(ref) == 16 && strings.HasPrefix(x.IDHash, ref) })
	if i < 0 {
		h.accountView(w, r, s, u, http.StatusNotFound, accountData{Error: "That session has already ended."})
		return
	}
	if err := h.Store.RevokeSession(ctx, sessions[i].IDHash, h.now(), h.audit(r, manage.EventSessionEnded, u.ID, "", nil)); err != nil {
		h.fail(w, r, "end session", err)
		return
	}
	h.accountView(w, r, s, u, http.StatusOK, accountData{Notice: "That session was signed out."})
}
