package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// badCredentials is the one answer to every failed password login: unknown
// email, wrong password, locked or disabled account all read the same, so
// the form reveals nothing about which accounts exist or their state.
const badCredentials = "The email or password is incorrect, or the account cannot sign in right now."

type loginData struct {
	ID, CSRF, Email, ClientName, Error string
	CanRegister                        bool
	Buttons                            []button
	// Passkeys: offer a passkey (the page's script shows the button).
	Passkeys bool
}

// loginPage continues an auth request: with a live session that this
// request may use, on to whatever it still owes; otherwise to the sign-in
// form (or, for prompt=none, login_required).
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := h.requestAndClient(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	s, u, live, err := h.currentSession(r.Context(), r)
	if err != nil {
		h.fail(w, r, "load session", err)
		return
	}
	h.advance(w, r, ar, c, s, u, live, false)
}

// showLogin sends the browser to the client's chosen connection or the
// one of the hint's domain, else shows the sign-in form.
func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client) {
	ctx := r.Context()
	conn := ar.Connection
	if conn == "" {
		var err error
		if conn, err = h.homeRealm(ctx, strings.ToLower(ar.LoginHint)); err != nil {
			h.fail(w, r, "home realm", err)
			return
		}
	}
	if conn != "" {
		http.Redirect(w, r, federatedURL(conn, ar.ID, ar.LoginHint), http.StatusFound)
		return
	}
	h.loginForm(w, r, ar, c, ar.LoginHint, "")
}

// loginForm shows the sign-in form of ar, with email filled in and msg
// (a catalogue message, or "") above it.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c storage.Client, email, msg string) {
	browser := h.Cookies.EnsureBrowserID(w, r)
	h.render(w, r, http.StatusOK, "login", loginData{ID: ar.ID, CSRF: h.csrfToken(browser), Email: email, Error: msg,
		ClientName: c.Name, CanRegister: h.cfg.Registration == "open", Buttons: h.buttons(r.Context(), ar, c), Passkeys: h.passkeys != nil})
}

func (h *Handler) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	ar, c, ok := h.requestAndClient(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	email := strings.TrimSpace(strings.ToLower(r.PostForm.Get("email")))
	pw := r.PostForm.Get("password")
	// Home-realm discovery: an email of an organization with its own
	// identity provider goes there, not to a password check.
	if conn, err := h.homeRealm(ctx, email); err != nil {
		h.fail(w, r, "home realm", err)
		return
	} else if conn != "" {
		http.Redirect(w, r, federatedURL(conn, ar.ID, email), http.StatusSeeOther)
		return
	}
	again := func(status int, msg string) {
		h.render(w, r, status, "login", loginData{ID: ar.ID, CSRF: r.PostForm.Get("csrf"), Email: email, ClientName: c.Name, Error: msg,
			CanRegister: h.cfg.Registration == "open", Buttons: h.buttons(ctx, ar, c), Passkeys: h.passkeys != nil})
	}
	u, err := h.checkPassword(ctx, email, pw)
	switch {
	case errors.Is(err, password.ErrBusy):
		h.metrics.logins.WithLabelValues("password", "shed").Inc()
		w.Header().Set("Retry-After", "2")
		again(http.StatusTooManyRequests, "Too many sign-in attempts right now. Please wait a moment and try again.")
		return
	case errors.Is(err, errBadCredentials):
		again(http.StatusUnauthorized, badCredentials)
		return
	case err != nil:
		h.fail(w, r, "password login", err)
		return
	}
	h.afterPassword(w, r, ar, c, u, pw)
}

var errBadCredentials = errors.New("login: bad credentials")

type checkedUser struct {
	storage.User
	needsRehash bool
	// ticket is the admission of this check (storage.Logins).
	ticket storage.Ticket
}

// checkPassword verifies email and password with the same work whatever
// the outcome (a dummy hash for unknown, locked and disabled accounts).
// The check is admitted (and counted) atomically with the lock state
// before the hash runs, so parallel guesses cannot outrun the lockout.
func (h *Handler) checkPassword(ctx context.Context, email, pw string) (checkedUser, error) {
	if len(email) > 254 || len(pw) > 1024 {
		_, _, err := h.Hasher.Verify(ctx, "", "")
		if err != nil {
			return checkedUser{}, err
		}
		return checkedUser{}, errBadCredentials
	}
	u, err := h.Store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return checkedUser{}, err
	}
	found := err == nil
	now := h.now()
	refused := found && u.Disabled
	var ticket storage.Ticket
	if found && !refused {
		ticket, err = h.Store.AdmitLogin(ctx, u.ID, h.cfg.Lockout, now, h.auditCtx(ctx, manage.EventAccountLocked, u.ID, "", nil))
		switch {
		case errors.Is(err, storage.ErrLocked):
			refused = true
		case err != nil:
			return checkedUser{}, err
		}
	}
	hash := u.PasswordHash
	if !found || refused {
		hash = ""
	}
	ok, rehash, err := h.Hasher.Verify(ctx, hash, pw)
	if errors.Is(err, password.ErrBusy) || errors.Is(err, context.Canceled) {
		// Shed (or abandoned) before the check: no failure. Its admission
		// is taken back, so overload alone never locks an account.
		if found && !refused {
			h.releaseShed(ctx, u.ID, ticket)
		}
		return checkedUser{}, err
	}
	if found && !refused && h.cfg.Lockout.Locks(ticket.Count) {
		h.metrics.lockouts.Inc() // counted once the attempt was checked (a shed one is released)
	}
	if err != nil { // malformed stored hash: a failure, and worth a log line
		slog.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "error", err)
		ok = false
	}
	switch {
	case !found:
		h.metrics.logins.WithLabelValues("password", "unknown_user").Inc()
		if err := h.Store.AppendAudit(ctx, h.auditCtx(ctx, manage.EventLoginFailed, "", "", map[string]string{"reason": "unknown_user"})); err != nil {
			return checkedUser{}, err
		}
		return checkedUser{}, errBadCredentials
	case refused:
		reason := "locked"
		if u.Disabled {
			reason = "disabled"
		}
		h.metrics.logins.WithLabelValues("password", reason).Inc()
		if err := h.Store.AppendAudit(ctx, h.auditCtx(ctx, manage.EventLoginRefused, u.ID, "", map[string]string{"reason": reason})); err != nil {
			return checkedUser{}, err
		}
		return checkedUser{}, errBadCredentials
	case !ok:
		// Counted at admission; the row says what it was.
		h.metrics.logins.WithLabelValues("password", "bad_password").Inc()
		if err := h.Store.AppendAudit(ctx, h.auditCtx(ctx, manage.EventLoginFailed, u.ID, "", map[string]string{"reason": "bad_password"})); err != nil {
			return checkedUser{}, err
		}
		return checkedUser{}, errBadCredentials
	}
	return checkedUser{User: u, needsRehash: rehash, ticket: ticket}, nil
}

// audit is a row about a person's own action on the sign-in screens: the
// person is actor and subject.
func (h *Handler) audit(r *http.Request, typ manage.EventType, actor, clientID string, details map[string]string) storage.AuditEvent {
	return manage.ActorFrom(r, actor, clientID).Event(h.now(), typ, manage.About{Subject: actor, Details: details})
}

// auditCtx is audit for code without the request at hand.
// aboutByAnyone is a row about the person for something anyone who
// typed their address could have done (a reset request, a registration
// with it): the person sees it, but not the other browser's address and
// device, which are not theirs to see. The log keeps them with the
// request ID.
func (h *Handler) aboutByAnyone(r *http.Request, typ manage.EventType, userID string) storage.AuditEvent {
	ev := h.audit(r, typ, userID, "", nil)
	ev.IP, ev.UserAgent = "", ""
	return ev
}

// releaseAdmission takes back a check's admission
// (storage.ReleaseAdmission) with the row that says so, should that lift
// the lock the check's admission set: reason is checked_right (the
// factor was right, the sign-in goes on) or not_checked (shed before the
// check). It outlives the request's own cancellation, briefly: a client
// that hangs up after a right answer must not leave it counted as a
// failure (in one store and not the other).
func (h *Handler) releaseAdmission(ctx context.Context, userID, clientID string, t storage.Ticket, reason string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return h.Store.ReleaseAdmission(rctx, userID, t,
		h.auditCtx(ctx, manage.EventAccountLockLifted, userID, clientID, map[string]string{"reason": reason}))
}

// releaseShed takes back the admission of a check that was shed (or
// abandoned) before it ran: overload alone never counts as a failure.
func (h *Handler) releaseShed(ctx context.Context, userID string, t storage.Ticket) {
	if err := h.releaseAdmission(ctx, userID, "", t, "not_checked"); err != nil {
		slog.WarnContext(ctx, "release of a shed admission failed", "user_id", userID, "error", err)
	}
}

func (h *Handler) auditCtx(ctx context.Context, typ manage.EventType, actor, clientID string, details map[string]string) storage.AuditEvent {
	return manage.ActorCtx(ctx, actor, clientID).Event(h.now(), typ, manage.About{Subject: actor, Details: details})
}

func clientIP(r *http.Request) string { return httpx.ClientIP(r.Context()) }
