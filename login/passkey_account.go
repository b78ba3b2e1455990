package login

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/mux"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// registerPasskeys mounts the passkey ceremonies and the account's
// passkey page.
func (h *Handler) registerPasskeys(r *mux.Router) {
	r.HandleFunc("/login/passkey/options", h.passkeySignInOptions).Methods(http.MethodPost)
	r.HandleFunc("/login/passkey", h.passkeySignIn).Methods(http.MethodPost)
	r.HandleFunc("/login/passkey/mfa", h.passkeyMFAPage).Methods(http.MethodGet)
	r.HandleFunc("/login/passkey/mfa/options", h.passkeyMFAOptions).Methods(http.MethodPost)
	r.HandleFunc("/login/passkey/mfa", h.passkeyMFASubmit).Methods(http.MethodPost)
	r.HandleFunc("/login/passkey/enroll", h.passkeyEnrollPage).Methods(http.MethodGet)
	r.HandleFunc("/login/passkey/enroll/options", h.passkeyEnrollOptions).Methods(http.MethodPost)
	r.HandleFunc("/login/passkey/enroll", h.passkeyEnrollSubmit).Methods(http.MethodPost)
	r.HandleFunc("/account/passkeys", h.accountPasskeysPage).Methods(http.MethodGet)
	r.HandleFunc("/account/passkeys/options", h.accountPasskeyOptions).Methods(http.MethodPost)
	r.HandleFunc("/account/passkeys", h.accountPasskeyAdd).Methods(http.MethodPost)
	r.HandleFunc("/account/passkeys/rename", h.accountPasskeyRename).Methods(http.MethodPost)
	r.HandleFunc("/account/passkeys/remove", h.accountPasskeyRemove).Methods(http.MethodPost)
}

type passkeyView struct {
	storage.Passkey
	Ref    string // the credential ID, base64url, for the forms
	Synced bool
}

type passkeysData struct {
	CSRF, Error, Notice string
	Available           bool // passkeys work on this deployment
	Passkeys            []passkeyView
	Max                 int
}

func (h *Handler) passkeysView(w http.ResponseWriter, r *http.Request, u storage.User, status int, d passkeysData) {
	ps, err := h.Store.PasskeysByUser(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "passkeys", err)
		return
	}
	d.CSRF, d.Available, d.Max = h.csrfToken(h.Cookies.BrowserID(r)), h.passkeys != nil, manage.PasskeyNameMax
	for _, p := range ps {
		d.Passkeys = append(d.Passkeys, passkeyView{Passkey: p, Ref: base64.RawURLEncoding.EncodeToString(p.ID), Synced: p.BackupEligible})
	}
	h.render(w, r, status, "passkeys", d)
}

func (h *Handler) accountPasskeysPage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.accountSession(w, r)
	if !ok {
		return
	}
	h.passkeysView(w, r, u, http.StatusOK, passkeysData{})
}

// recentForPasskey answers the script when the session may not add a
// passkey (see mayAddPasskey): it sends the browser to sign in again.
func (h *Handler) recentForPasskey(w http.ResponseWriter, r *http.Request, s storage.Session, u storage.User) bool {
	ok, err := h.mayAddPasskey(r, s, u)
	if err != nil {
		h.passkeyJSONError(w, r, http.StatusServiceUnavailable, "passkey policy", err)
		return false
	}
	if !ok {
		h.writeJSON(w, http.StatusForbidden, map[string]string{"error": "reauthenticate", "location": "/account/signin?fresh=1"})
	}
	return ok
}

// mayAddPasskey: a recent sign-in may add a passkey; where a passkey is
// required, only a sign-in that used one may. Otherwise a session alone
// (a borrowed cookie) could plant the passkey that the policy trusts; the
// person who has none adds theirs during the sign-in, after their
// password and their second factor (passkeyOwed).
func (h *Handler) mayAddPasskey(r *http.Request, s storage.Session, u storage.User) (bool, error) {
	if h.now().Sub(s.AuthTime) > recentAuth {
		return false, nil
	}
	if phishingResistant(s.AMR) {
		return true, nil
	}
	p, err := h.orgPolicy(r.Context(), u.ID)
	return !p.passkey, err
}

// accountPasskeyOptions starts a registration: a discoverable credential
// is preferred (a passkey, not just a second factor), user verification
// too, and the user's existing passkeys are excluded.
func (h *Handler) accountPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	if h.passkeys == nil {
		http.NotFound(w, r)
		return
	}
	s, u, ok := h.accountForm(w, r)
	if !ok || !h.recentForPasskey(w, r, s, u) {
		return
	}
	pu, _, err := h.passkeyUserOf(r, u)
	if err != nil {
		h.passkeyJSONError(w, r, http.StatusServiceUnavailable, "passkeys", err)
		return
	}
	h.beginRegistration(w, r, pu, "")
}

// beginRegistration starts a registration for pu (within the sign-in
// arID, or "" on the account page): a discoverable credential is
// preferred (a passkey, not just a second factor), user verification
// too, and the user's existing passkeys are excluded.
func (h *Handler) beginRegistration(w http.ResponseWriter, r *http.Request, pu passkeyUser, arID string) {
	opts, sd, err := h.passkeys.BeginRegistration(pu, webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		h.passkeyJSONError(w, r, http.StatusInternalServerError, "begin registration", err)
		return
	}
	h.startCeremony(w, r, storage.PasskeyRegistration, pu.u.ID, arID, sd, opts)
}

// accountPasskeyAdd finishes a registration. Without a script the form
// arrives without a credential and the page says what is missing.
func (h *Handler) accountPasskeyAdd(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	if may, err := h.mayAddPasskey(r, s, u); err != nil || !may {
		if err != nil {
			h.fail(w, r, "passkey policy", err)
		} else {
			http.Redirect(w, r, "/account/signin?fresh=1", http.StatusSeeOther)
		}
		return
	}
	if h.passkeys == nil {
		h.passkeysView(w, r, u, http.StatusNotFound, passkeysData{Error: "Passkeys are not available here."})
		return
	}
	if r.PostForm.Get("credential") == "" {
		h.passkeysView(w, r, u, http.StatusBadRequest, passkeysData{Error: "Adding a passkey needs JavaScript in this browser."})
		return
	}
	name, err := manage.PasskeyName(r.PostForm.Get("name"), h.defaultPasskeyName(r))
	var ve *manage.ValidationError
	if errors.As(err, &ve) {
		h.passkeysView(w, r, u, http.StatusBadRequest, passkeysData{Error: ve.Msg})
		return
	}
	pu, _, err := h.passkeyUserOf(r, u)
	if err != nil {
		h.fail(w, r, "passkeys", err)
		return
	}
	_, msg, status, err := h.addPasskey(r, pu, "", "", name)
	if err != nil {
		h.fail(w, r, "add passkey", err)
		return
	}
	if msg != "" {
		h.passkeysView(w, r, u, status, passkeysData{Error: msg})
		return
	}
	h.passkeysView(w, r, u, http.StatusOK, passkeysData{Notice: "Passkey “" + name + "” added. You can now sign in with it."})
}

// addPasskey finishes the registration ceremony posted with r (begun for
// the sign-in arID, or "" on the account page), stores the passkey and
// tells the mailbox. A refusal is the user's to see (msg, status); err is
// an outage.
func (h *Handler) addPasskey(r *http.Request, pu passkeyUser, arID, clientID, name string) (p storage.Passkey, msg string, status int, err error) {
	u := pu.u
	refused := func(cause error) (storage.Passkey, string, int, error) {
		slog.InfoContext(r.Context(), "passkey registration refused", "error", cause)
		return p, "The passkey could not be added. Please try again.", http.StatusBadRequest, nil
	}
	sd, err := h.takeCeremony(r, storage.PasskeyRegistration, u.ID, arID)
	if errors.Is(err, errBadPasskey) {
		return refused(err)
	}
	if err != nil {
		return p, "", 0, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(r.PostForm.Get("credential")))
	if err != nil {
		return refused(err)
	}
	if len(pu.creds) >= maxPasskeys {
		return p, "You have as many passkeys as an account can have. Remove one you no longer use first.", http.StatusConflict, nil
	}
	cred, err := h.passkeys.CreateCredential(pu, sd, parsed)
	if err != nil {
		return refused(err)
	}
	p = storage.Passkey{ID: cred.ID, UserID: u.ID, Name: name, PublicKey: cred.PublicKey, AttestationType: cred.AttestationType,
		AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount, BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, CreatedAt: h.now()}
	for _, t := range cred.Transport {
		if len(p.Transports) < 8 && len(t) <= 32 { // what authenticators report is small; keep it so
			p.Transports = append(p.Transports, string(t))
		}
	}
	err = h.Store.AddPasskey(r.Context(), p, h.audit(r, manage.EventPasskeyRegistered, u.ID, clientID, map[string]string{"passkey": name}))
	if errors.Is(err, storage.ErrConflict) {
		return p, "This passkey is already registered.", http.StatusConflict, nil
	}
	if err != nil {
		return p, "", 0, err
	}
	// A new way in is told to the mailbox: a passkey planted with a
	// borrowed session would otherwise outlive a password reset unseen.
	h.mail(r, u.Email, mailPasskeyAdded, map[string]any{"Passkey": name, "When": h.now(),
		"Link": h.cfg.Issuer + "/account/passkeys"})
	return p, "", 0, nil
}

// defaultPasskeyName names a passkey its owner left unnamed, in the
// page's language.
func (h *Handler) defaultPasskeyName(r *http.Request) string {
	tr := h.Templates.Translator()
	lang := tr.Pick(r)
	return tr.T(lang, passkeyDefaultName, map[string]any{"Date": i18n.Date(lang, h.now(), false)})
}

const passkeyDefaultName = "Passkey added {{.Date}}"

// maxPasskeys bounds one account's passkeys (each is read at every
// factor decision).
const maxPasskeys = 20

// passkeyRef reads the credential ID a form names.
func passkeyRef(r *http.Request) []byte {
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("passkey"))
	if err != nil {
		return nil
	}
	return id
}

func (h *Handler) accountPasskeyRename(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	name, err := manage.PasskeyName(r.PostForm.Get("name"), "")
	var ve *manage.ValidationError
	if errors.As(err, &ve) || (err == nil && name == "") {
		msg := "Enter a name."
		if ve != nil {
			msg = ve.Msg
		}
		h.passkeysView(w, r, u, http.StatusBadRequest, passkeysData{Error: msg})
		return
	}
	err = h.Store.RenamePasskey(r.Context(), u.ID, passkeyRef(r), name, h.audit(r, manage.EventPasskeyRenamed, u.ID, "", map[string]string{"passkey": name}))
	if errors.Is(err, storage.ErrNotFound) {
		h.passkeysView(w, r, u, http.StatusNotFound, passkeysData{Error: "That passkey is not on your account."})
		return
	}
	if err != nil {
		h.fail(w, r, "rename passkey", err)
		return
	}
	h.passkeysView(w, r, u, http.StatusOK, passkeysData{Notice: "Renamed."})
}

// accountPasskeyRemove removes a passkey; like every change to the
// factors it needs a recent sign-in.
func (h *Handler) accountPasskeyRemove(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.accountForm(w, r)
	if !ok || !h.requireRecent(w, r, s) {
		return
	}
	id := passkeyRef(r)
	p, err := h.Store.PasskeyByID(r.Context(), id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.fail(w, r, "passkey", err)
		return
	}
	err = h.Store.DeletePasskey(r.Context(), u.ID, id, h.audit(r, manage.EventPasskeyRemoved, u.ID, "", map[string]string{"passkey": p.Name}))
	if errors.Is(err, storage.ErrNotFound) {
		h.passkeysView(w, r, u, http.StatusNotFound, passkeysData{Error: "That passkey is not on your account."})
		return
	}
	if err != nil {
		h.fail(w, r, "remove passkey", err)
		return
	}
	h.passkeysView(w, r, u, http.StatusOK, passkeysData{Notice: "The passkey was removed. It can no longer sign in."})
}
