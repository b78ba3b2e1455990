package login

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// Passkeys (WebAuthn). Every ceremony has two requests: the page's script
// asks one of the options endpoints for a challenge (JSON), the
// authenticator signs it, and the script posts the credential with an
// ordinary form, whose answer is the next page of the sign-in. The
// challenge is stored (storage.PasskeyChallenge): single use, passkeyTTL
// long, bound to this browser and to the sign-in (or account) it was made
// for, so it works on any replica and cannot be replayed or carried to
// another browser.

// passkeyTTL is the life of a ceremony's challenge.
const passkeyTTL = 5 * time.Minute

// PasskeysAvailable reports whether an issuer can have passkeys: its
// host must be a name (browsers refuse an IP address as the RP ID).
func PasskeysAvailable(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && protocol.ValidateRPID(u.Hostname()) == nil
}

// newWebAuthn is the relying party of our issuer: its host is the RP ID,
// its origin the only origin. An issuer whose host is an IP address
// cannot have passkeys (browsers refuse an IP as RP ID): nil.
func newWebAuthn(issuer, productName string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	if !PasskeysAvailable(issuer) {
		return nil, nil
	}
	return webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: productName, RPOrigins: []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred},
		// Our store enforces the challenge's life with our clock.
		Timeouts: webauthn.TimeoutsConfig{Login: webauthn.TimeoutConfig{Timeout: passkeyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: passkeyTTL}},
	})
}

// passkeyUser is a user as the WebAuthn library sees them: the user
// handle is our user ID, never the email.
type passkeyUser struct {
	u     storage.User
	creds []webauthn.Credential
}

func (p passkeyUser) WebAuthnID() []byte   { return []byte(p.u.ID) }
func (p passkeyUser) WebAuthnName() string { return p.u.Email }
func (p passkeyUser) WebAuthnDisplayName() string {
	if p.u.Name != "" {
		return p.u.Name
	}
	return p.u.Email
}
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// credential is a stored passkey as the library's credential record.
func credential(p storage.Passkey) webauthn.Credential {
	flags := protocol.FlagUserPresent
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	c := webauthn.Credential{ID: p.ID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, Flags: webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount}}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// passkeyUserOf loads the user's passkeys.
func (h *Handler) passkeyUserOf(r *http.Request, u storage.User) (passkeyUser, []storage.Passkey, error) {
	ps, err := h.Store.PasskeysByUser(r.Context(), u.ID)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	pu := passkeyUser{u: u}
	for _, p := range ps {
		pu.creds = append(pu.creds, credential(p))
	}
	return pu, ps, nil
}

// passkeyAMR is what a passkey assertion proves (RFC 8176): possession of
// a key, hardware-bound (hwk) unless the key may be synced (swk); the
// user's presence (user); and with user verification, which is a second
// factor held by the authenticator (PIN or biometrics), mfa.
func passkeyAMR(backupEligible, userVerified bool) []string {
	amr := []string{"hwk", "user"}
	if backupEligible {
		amr[0] = "swk"
	}
	if userVerified {
		amr = append(amr, "mfa")
	}
	return amr
}

// hasKey reports whether amr holds a passkey.
func hasKey(amr []string) bool { return slices.Contains(amr, "hwk") || slices.Contains(amr, "swk") }

// ceremonyAnswer is what an options endpoint answers: the ceremony's ID
// (posted back with the credential) and the options for
// navigator.credentials.create or .get.
type ceremonyAnswer struct {
	Ceremony string `json:"ceremony"`
	Options  any    `json:"options"`
}

// startCeremony stores the ceremony's session data, bound to this browser,
// and answers the options.
func (h *Handler) startCeremony(w http.ResponseWriter, r *http.Request, purpose, userID, arID string, sd *webauthn.SessionData, options any) {
	session, err := json.Marshal(sd)
	if err != nil {
		h.passkeyJSONError(w, r, http.StatusInternalServerError, "encode session", err)
		return
	}
	id, now := random.Token(32), h.now()
	c := storage.PasskeyChallenge{IDHash: storage.HashSecret(id), Purpose: purpose, UserID: userID, AuthRequestID: arID,
		BrowserHash: httpx.BrowserHash(h.Cookies.BrowserID(r)), Session: session, CreatedAt: now, ExpiresAt: now.Add(passkeyTTL)}
	if err := h.Store.CreatePasskeyChallenge(r.Context(), c); err != nil {
		h.passkeyJSONError(w, r, http.StatusServiceUnavailable, "store challenge", err)
		return
	}
	h.writeJSON(w, http.StatusOK, ceremonyAnswer{Ceremony: id, Options: options})
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	httpx.NoStore(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// passkeyJSONError answers an options request that failed; the script
// shows its own words, the cause goes to the log.
func (h *Handler) passkeyJSONError(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	slog.WarnContext(r.Context(), "passkey options", "reason", what, "error", err)
	h.writeJSON(w, status, map[string]string{"error": "unavailable"})
}

// errBadPasskey is a ceremony that does not hold: unknown, used, expired
// or another browser's challenge, one made for something else, or a
// credential that does not verify.
var errBadPasskey = errors.New("login: passkey ceremony refused")

// takeCeremony consumes the posted ceremony's challenge for this browser
// and checks that it was made for purpose, user and sign-in.
func (h *Handler) takeCeremony(r *http.Request, purpose, userID, arID string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	id := r.PostForm.Get("ceremony")
	if id == "" {
		return sd, fmt.Errorf("%w: no ceremony", errBadPasskey)
	}
	c, err := h.Store.ConsumePasskeyChallenge(r.Context(), storage.HashSecret(id), httpx.BrowserHash(h.Cookies.BrowserID(r)), h.now())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
		return sd, fmt.Errorf("%w: challenge: %w", errBadPasskey, err)
	}
	if err != nil {
		return sd, err
	}
	if c.Purpose != purpose || c.UserID != userID || c.AuthRequestID != arID {
		return sd, fmt.Errorf("%w: challenge made for another ceremony", errBadPasskey)
	}
	if err := json.Unmarshal(c.Session, &sd); err != nil {
		return sd, fmt.Errorf("%w: session: %w", errBadPasskey, err)
	}
	return sd, nil
}

// --- sign-in with a passkey (the first, and perhaps only, step) ---

const passkeyFailed = "That passkey could not be used to sign in. Try again, or use your password."

// passkeySignInOptions starts a discoverable sign-in for a request of
// this browser: no email is asked, the authenticator offers the user's
// passkeys for our RP ID.
func (h *Handler) passkeySignInOptions(w http.ResponseWriter, r *http.Request) {
	if h.passkeys == nil || !h.checkForm(w, r) {
		return
	}
	ar, _, ok := h.requestAndClient(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	opts, sd, err := h.passkeys.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		h.passkeyJSONError(w, r, http.StatusInternalServerError, "begin login", err)
		return
	}
	h.startCeremony(w, r, storage.PasskeySignIn, "", ar.ID, sd, opts)
}

// passkeySignIn checks a discoverable assertion and moves the sign-in on
// like a right password: the check is admitted (and counted) with the
// lock, a disabled or locked account gets nothing, and the state machine
// decides what is still owed. With user verification the passkey is both
// factors.
func (h *Handler) passkeySignIn(w http.ResponseWriter, r *http.Request) {
	if h.passkeys == nil {
		http.NotFound(w, r)
		return
	}
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	ar, c, ok := h.requestAndClient(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	again := func(status int, reason string, cause error) {
		slog.InfoContext(ctx, "passkey sign-in refused", "reason", reason, "error", cause)
		h.metrics.logins.WithLabelValues("passkey", reason).Inc()
		h.render(w, r, status, "login", loginData{ID: ar.ID, CSRF: r.PostForm.Get("csrf"), ClientName: c.Name, Error: passkeyFailed,
			CanRegister: h.cfg.Registration == "open", Buttons: h.buttons(ctx, ar, c), Passkeys: true})
	}
	// The challenge is used up first: whatever follows, it never serves twice.
	sd, err := h.takeCeremony(r, storage.PasskeySignIn, "", ar.ID)
	if errors.Is(err, errBadPasskey) {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginFailed, "", ar.ClientID, map[string]string{"reason": "passkey_challenge"}))
		again(http.StatusUnauthorized, "bad_challenge", err)
		return
	}
	if err != nil {
		h.fail(w, r, "passkey challenge", err)
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(r.PostForm.Get("credential")))
	if err != nil {
		again(http.StatusBadRequest, "unreadable", err)
		return
	}
	p, err := h.Store.PasskeyByID(ctx, parsed.RawID)
	if errors.Is(err, storage.ErrNotFound) {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginFailed, "", ar.ClientID, map[string]string{"reason": "unknown_passkey"}))
		again(http.StatusUnauthorized, "unknown_passkey", err)
		return
	}
	if err != nil {
		h.fail(w, r, "passkey", err)
		return
	}
	u, err := h.Store.UserByID(ctx, p.UserID)
	if err != nil {
		h.fail(w, r, "passkey user", err)
		return
	}
	if u.Disabled {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginRefused, u.ID, ar.ClientID, map[string]string{"reason": "disabled"}))
		again(http.StatusUnauthorized, "disabled", nil)
		return
	}
	// An organization with its own identity provider signs its people in
	// there, passkey or not: leaving the company must end every way in.
	if conn, err := h.homeRealm(ctx, u.Email); err != nil {
		h.fail(w, r, "home realm", err)
		return
	} else if conn != "" {
		http.Redirect(w, r, federatedURL(conn, ar.ID, u.Email), http.StatusSeeOther)
		return
	}
	ticket, err := h.Store.AdmitLogin(ctx, u.ID, h.cfg.Lockout, h.now(), h.audit(r, manage.EventAccountLocked, u.ID, ar.ClientID, nil))
	if errors.Is(err, storage.ErrLocked) {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginRefused, u.ID, ar.ClientID, map[string]string{"reason": "locked"}))
		again(http.StatusUnauthorized, "locked", err)
		return
	}
	if err != nil {
		h.fail(w, r, "admit passkey", err)
		return
	}
	if h.cfg.Lockout.Locks(ticket.Count) {
		h.metrics.lockouts.Inc()
	}
	pu, _, err := h.passkeyUserOf(r, u)
	if err != nil {
		h.fail(w, r, "passkeys", err)
		return
	}
	// The user handle must name the credential's owner: a credential of
	// one account never signs in another.
	owner := func(_, userHandle []byte) (webauthn.User, error) {
		if string(userHandle) != u.ID {
			return nil, errors.New("user handle is not the credential's owner")
		}
		return pu, nil
	}
	if _, _, err := h.passkeys.ValidatePasskeyLogin(owner, sd, parsed); err != nil {
		_ = h.Store.AppendAudit(ctx, h.audit(r, manage.EventLoginFailed, u.ID, ar.ClientID, map[string]string{"reason": "bad_passkey"}))
		again(http.StatusUnauthorized, "bad_passkey", err)
		return
	}
	flags := parsed.Response.AuthenticatorData.Flags
	if !h.usePasskey(w, r, u, p, parsed, ar.ClientID) {
		return
	}
	amr := passkeyAMR(p.BackupEligible, flags.HasUserVerified())
	h.afterPasskey(w, r, ar, c, u, amr, ticket)
}

// usePasskey records the assertion's sign count; a counter that did not
// move forward (a cloned authenticator) or a passkey removed meanwhile
// fails the sign-in (the page is written, false returned).
func (h *Handler) usePasskey(w http.ResponseWriter, r *http.Request, u storage.User, p storage.Passkey, parsed *protocol.ParsedCredentialAssertionData, clientID string) bool {
	ad := parsed.Response.AuthenticatorData
	err := h.Store.UsePasskey(r.Context(), p.ID, ad.Counter, ad.Flags.HasBackupState(), h.now(),
		h.audit(r, manage.EventPasskeyCloneSuspected, u.ID, clientID, map[string]string{"passkey": p.Name,
			"stored_count": fmt.Sprint(p.SignCount), "count": fmt.Sprint(ad.Counter)}))
	switch {
	case errors.Is(err, storage.ErrCloned):
		h.metrics.logins.WithLabelValues("passkey", "clone_suspected").Inc()
		h.Error(w, r, http.StatusUnauthorized, "This passkey cannot be used: it may have been copied. Sign in another way and remove it from your account.",
			"reason", "passkey sign count did not move forward", "user_id", u.ID)
		return false
	case errors.Is(err, storage.ErrNotFound):
		h.Error(w, r, http.StatusUnauthorized, passkeyFailed, "reason", "passkey removed during the ceremony")
		return false
	case err != nil:
		h.fail(w, r, "use passkey", err)
		return false
	}
	return true
}

// --- a passkey as the second factor after a password ---

type passkeyMFAData struct {
	ID, CSRF, Error string
	// Required: the sign-in must end with a passkey, so there is no other
	// way to offer.
	Required bool
	// Others: the user has a code-based second step to offer instead.
	Others bool
}

// passkeyMFAView is the passkey second step's page for decision d, with
// msg (or "") above it.
func passkeyMFAView(ar storage.AuthRequest, csrf string, d mfaDecision, msg string) passkeyMFAData {
	return passkeyMFAData{ID: ar.ID, CSRF: csrf, Error: msg, Required: d.passkey, Others: d.f.codes()}
}

// pendingPasskeyUser is pendingLogin for a user with passkeys; without
// them (or with passkeys off) the browser goes to the other methods.
func (h *Handler) pendingPasskeyUser(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, passkeyUser, bool) {
	ar, c, u, ok := h.pendingLogin(w, r, id)
	if !ok {
		return ar, c, passkeyUser{}, false
	}
	pu, _, err := h.passkeyUserOf(r, u)
	if err != nil {
		h.fail(w, r, "passkeys", err)
		return ar, c, pu, false
	}
	if h.passkeys == nil || len(pu.creds) == 0 || hasKey(ar.PendingAMR) {
		http.Redirect(w, r, "/login/mfa?id="+ar.ID, http.StatusSeeOther)
		return ar, c, pu, false
	}
	return ar, c, pu, true
}

func (h *Handler) passkeyMFAPage(w http.ResponseWriter, r *http.Request) {
	ar, c, pu, ok := h.pendingPasskeyUser(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	d, err := h.mfaRequired(r.Context(), ar, c, pu.u)
	if err != nil {
		h.fail(w, r, "mfa decision", err)
		return
	}
	h.render(w, r, http.StatusOK, "passkeymfa", passkeyMFAView(ar, h.csrfToken(h.Cookies.BrowserID(r)), d, ""))
}

func (h *Handler) passkeyMFAOptions(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ar, _, pu, ok := h.pendingPasskeyUser(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	opts, sd, err := h.passkeys.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		h.passkeyJSONError(w, r, http.StatusInternalServerError, "begin second factor", err)
		return
	}
	h.startCeremony(w, r, storage.PasskeySecondFactor, pu.u.ID, ar.ID, sd, opts)
}

// passkeyMFASubmit checks a passkey as the second factor, admitted and
// counted like a code.
func (h *Handler) passkeyMFASubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r) {
		return
	}
	ctx := r.Context()
	ar, c, pu, ok := h.pendingPasskeyUser(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	u := pu.u
	ticket, ok := h.admitSecondFactor(w, r, ar, u, h.now())
	if !ok {
		return
	}
	var parsed *protocol.ParsedCredentialAssertionData
	sd, err := h.takeCeremony(r, storage.PasskeySecondFactor, u.ID, ar.ID)
	if err == nil {
		parsed, err = protocol.ParseCredentialRequestResponseBytes([]byte(r.PostForm.Get("credential")))
	}
	if err == nil {
		_, err = h.passkeys.ValidateLogin(pu, sd, parsed)
	}
	var p storage.Passkey
	if err == nil {
		p, err = h.Store.PasskeyByID(ctx, parsed.RawID)
	}
	if err != nil && !errors.Is(err, errBadPasskey) && !errors.Is(err, storage.ErrNotFound) && !isProtocolError(err) {
		h.fail(w, r, "check passkey", err)
		return
	}
	h.metrics.mfa.WithLabelValues("passkey", map[bool]string{true: "success", false: "failure"}[err == nil]).Inc()
	if err != nil {
		slog.InfoContext(ctx, "passkey second factor refused", "error", err)
		if aerr := h.Store.AppendAudit(ctx, h.audit(r, manage.EventMFAFailed, u.ID, ar.ClientID, map[string]string{"method": "passkey"})); aerr != nil {
			h.fail(w, r, "record mfa failure", aerr)
			return
		}
		d, derr := h.mfaRequired(ctx, ar, c, u)
		if derr != nil {
			h.fail(w, r, "mfa decision", derr)
			return
		}
		msg := "That passkey could not be used. Try again, or use another way."
		if d.passkey || !d.f.codes() { // no other way to point to
			msg = "That passkey could not be used. Try again."
		}
		h.render(w, r, http.StatusUnauthorized, "passkeymfa", passkeyMFAView(ar, r.PostForm.Get("csrf"), d, msg))
		return
	}
	if !h.usePasskey(w, r, u, p, parsed, ar.ClientID) {
		return
	}
	// The pending methods may already hold mfa (two factors shown, the
	// passkey still owed): it is said once, last.
	key := passkeyAMR(p.BackupEligible, false)[0]
	amr := slices.DeleteFunc(slices.Clone(ar.PendingAMR), func(m string) bool { return m == "mfa" })
	amr = slices.Compact(append(amr, key, "mfa"))
	h.completeLogin(w, r, ar, c, u, amr, "", &ticket)
}

// isProtocolError: the WebAuthn library refused the credential (the
// user's or an attacker's doing, not an outage).
func isProtocolError(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe)
}
