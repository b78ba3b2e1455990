package login_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

// authenticator is a minimal software authenticator: one ES256 key per
// credential, "none" attestation, a signature counter, and flags set by
// the test (user verification, backup eligibility).
type authenticator struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	id     []byte
	count  uint32
	uv, be bool
	// origin and rpID are what the "browser" reports; a phishing page
	// would report its own.
	origin, rpID string
}

func newAuthenticator(t *testing.T, e *apptest.Env) *authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	u, _ := url.Parse(e.Issuer)
	return &authenticator{t: t, key: key, id: id, uv: true, origin: e.Issuer, rpID: u.Hostname()}
}

var b64 = base64.RawURLEncoding

func (a *authenticator) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return cd
}

func (a *authenticator) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	flags := byte(0x01) // UP
	if a.uv {
		flags |= 0x04
	}
	if a.be {
		flags |= 0x08 | 0x10
	}
	if attested {
		flags |= 0x40
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.count)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(a.id)))
		out = append(out, a.id...)
		raw, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			a.t.Fatal(err)
		}
		x, y := raw[1:33], raw[33:65]
		cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
		if err != nil {
			a.t.Fatal(err)
		}
		out = append(out, cose...)
	}
	return out
}

// register answers navigator.credentials.create for options.
func (a *authenticator) register(options map[string]any) string {
	pk := options["publicKey"].(map[string]any)
	ad := a.authData(true)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		a.t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(a.clientData("webauthn.create", pk["challenge"].(string))),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}}})
	return string(cred)
}

// assert answers navigator.credentials.get for options, as the user
// userHandle; each assertion advances the counter.
func (a *authenticator) assert(options map[string]any, userHandle string) string {
	pk := options["publicKey"].(map[string]any)
	a.count++
	ad := a.authData(false)
	cd := a.clientData("webauthn.get", pk["challenge"].(string))
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(ad), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString([]byte(userHandle))}})
	return string(cred)
}

// passkeyEnv runs the provider on a host name: browsers (and the
// WebAuthn library) refuse an IP address as the relying party's ID.
func passkeyEnv(t *testing.T, backend string) *apptest.Env {
	t.Helper()
	dsn := ""
	if backend == "postgres" {
		dsn = pgtest.DSN(t)
	}
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	cfg := apptest.Config("http://localhost:"+port, backend, dsn)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return apptest.StartOn(t, srv, cfg)
}

// ceremony asks an options endpoint for a challenge.
func ceremony(t *testing.T, b *apptest.Browser, path string, form url.Values) (string, map[string]any) {
	t.Helper()
	resp, body := b.Post(path, form)
	var got struct {
		Ceremony string         `json:"ceremony"`
		Options  map[string]any `json:"options"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Ceremony == "" {
		t.Fatalf("%s: %d %.300s", path, resp.StatusCode, body)
	}
	return got.Ceremony, got.Options
}

// addPasskey registers a's credential on the account of the signed-in b.
func addPasskey(t *testing.T, b *apptest.Browser, a *authenticator, name string) {
	t.Helper()
	_, page := b.Get("/account/passkeys")
	csrf := apptest.Hidden(page).Get("csrf")
	id, opts := ceremony(t, b, "/account/passkeys/options", url.Values{"csrf": {csrf}})
	pk := opts["publicKey"].(map[string]any)
	if sel := pk["authenticatorSelection"].(map[string]any); sel["residentKey"] != "preferred" || sel["userVerification"] != "preferred" {
		t.Fatalf("registration options: %v", sel)
	}
	resp, page := b.Post("/account/passkeys", url.Values{"csrf": {csrf}, "ceremony": {id}, "credential": {a.register(opts)}, "name": {name}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "added") {
		t.Fatalf("add passkey: %d %.2000s", resp.StatusCode, page)
	}
}

// signInPage starts a sign-in of client web and returns its login form.
// (prompt=login: also in a browser that is signed in).
func signInPage(t *testing.T, e *apptest.Env, b *apptest.Browser) (verifier string, form url.Values, page string) {
	t.Helper()
	verifier, challenge := apptest.PKCE()
	resp, page := b.Authorize(e.AuthURL(map[string]string{"code_challenge": challenge, "code_challenge_method": "S256", "prompt": "login"}))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Sign in with a passkey") || !strings.Contains(page, `autocomplete="username webauthn"`) {
		t.Fatalf("login page: %d %.1000s", resp.StatusCode, page)
	}
	h := apptest.Hidden(page)
	return verifier, url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}}, page
}

// passkeySignIn posts an assertion made by sign for a fresh challenge.
func passkeySignIn(t *testing.T, b *apptest.Browser, form url.Values, sign func(opts map[string]any) string) (*http.Response, string) {
	t.Helper()
	id, opts := ceremony(t, b, "/login/passkey/options", form)
	f := url.Values{"id": form["id"], "csrf": form["csrf"], "ceremony": {id}, "credential": {sign(opts)}}
	return b.Follow(b.Post("/login/passkey", f))
}

func TestPasskeys(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := passkeyEnv(t, backend)
			ada := e.User(apptest.UserEmail)
			b := e.Browser()
			b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			key := newAuthenticator(t, e)
			addPasskey(t, b, key, "Laptop")
			synced := newAuthenticator(t, e)
			synced.be = true
			addPasskey(t, b, synced, "Phone")
			// Bob has a passkey of his own.
			bobB := e.Browser()
			bobB.AccountSignIn("bob@example.com", apptest.UserPassword)
			bobKey := newAuthenticator(t, e)
			addPasskey(t, bobB, bobKey, "Bob's key")
			_, page := b.Get("/account/passkeys")
			if !strings.Contains(page, "Laptop") || !strings.Contains(page, "Phone") || !strings.Contains(page, "synced between your devices") {
				t.Fatalf("passkeys page: %.2000s", page)
			}

			t.Run("sign in: amr and acr", func(t *testing.T) {
				for _, c := range []struct {
					a    *authenticator
					want []string
				}{{key, []string{"hwk", "user", "mfa"}}, {synced, []string{"swk", "user", "mfa"}}} {
					b := e.Browser()
					verifier, form, _ := signInPage(t, e, b)
					resp, body := passkeySignIn(t, b, form, func(o map[string]any) string { return c.a.assert(o, ada.ID) })
					claims := apptest.Claims(t, e.TokensFrom(b.ClientRedirect(resp, body), verifier).IDToken)
					var amr []string
					for _, m := range claims["amr"].([]any) {
						amr = append(amr, m.(string))
					}
					if !slices.Equal(amr, c.want) || claims["acr"] != storage.ACRPhishingResistant || claims["sub"] != ada.ID {
						t.Fatalf("claims: amr %v acr %v sub %v", amr, claims["acr"], claims["sub"])
					}
				}
			})

			t.Run("a challenge serves once", func(t *testing.T) {
				b := e.Browser()
				_, form, _ := signInPage(t, e, b)
				id, opts := ceremony(t, b, "/login/passkey/options", form)
				f := url.Values{"id": form["id"], "csrf": form["csrf"], "ceremony": {id}, "credential": {key.assert(opts, ada.ID)}}
				resp, body := b.Follow(b.Post("/login/passkey", f))
				if u := b.ClientRedirect(resp, body); u.Query().Get("code") == "" {
					t.Fatalf("first use: %s", u)
				}
				// The same signed answer again, in the same browser: refused.
				_, form2, _ := signInPage(t, e, b)
				f.Set("id", form2.Get("id"))
				resp, body = b.Post("/login/passkey", f)
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "could not be used") {
					t.Fatalf("replay: %d %.300s", resp.StatusCode, body)
				}
			})

			t.Run("another browser's challenge", func(t *testing.T) {
				victim, thief := e.Browser(), e.Browser()
				_, vform, _ := signInPage(t, e, victim)
				id, opts := ceremony(t, victim, "/login/passkey/options", vform)
				_, tform, _ := signInPage(t, e, thief)
				resp, body := thief.Post("/login/passkey", url.Values{"id": tform["id"], "csrf": tform["csrf"], "ceremony": {id},
					"credential": {key.assert(opts, ada.ID)}})
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("another browser's challenge: %d %.300s", resp.StatusCode, body)
				}
				// The victim's own challenge is still good.
				resp, body = victim.Follow(victim.Post("/login/passkey", url.Values{"id": vform["id"], "csrf": vform["csrf"], "ceremony": {id},
					"credential": {key.assert(opts, ada.ID)}}))
				if u := victim.ClientRedirect(resp, body); u.Query().Get("code") == "" {
					t.Fatalf("victim: %s", u)
				}
			})

			t.Run("another user's credential", func(t *testing.T) {
				// Bob claims to be Ada with his passkey.
				b := e.Browser()
				_, form, _ := signInPage(t, e, b)
				resp, body := passkeySignIn(t, b, form, func(o map[string]any) string { return bobKey.assert(o, ada.ID) })
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("bob's key as ada: %d %.300s", resp.StatusCode, body)
				}
				// And Ada's credential ID with Bob's key: the signature fails.
				forged := *key
				forged.key = bobKey.key
				forged.count = 1000
				_, form, _ = signInPage(t, e, b)
				resp, body = passkeySignIn(t, b, form, func(o map[string]any) string { return forged.assert(o, ada.ID) })
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("forged signature: %d %.300s", resp.StatusCode, body)
				}
			})

			t.Run("wrong origin or RP ID", func(t *testing.T) {
				for _, mutate := range []func(a *authenticator){
					func(a *authenticator) { a.origin = "https://phish.example" },
					func(a *authenticator) { a.rpID = "phish.example" },
				} {
					a := *key
					mutate(&a)
					b := e.Browser()
					_, form, _ := signInPage(t, e, b)
					resp, body := passkeySignIn(t, b, form, func(o map[string]any) string { return a.assert(o, ada.ID) })
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("phished: %d %.300s", resp.StatusCode, body)
					}
					key.count = a.count
				}
			})

			t.Run("clone: a counter that goes back", func(t *testing.T) {
				clone := *key
				clone.count = 0 // the copy's counter lags behind
				b := e.Browser()
				_, form, _ := signInPage(t, e, b)
				resp, body := passkeySignIn(t, b, form, func(o map[string]any) string { return clone.assert(o, ada.ID) })
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "copied") {
					t.Fatalf("clone: %d %.300s", resp.StatusCode, body)
				}
				rows, err := e.App.Store.ListAudit(t.Context(), storage.AuditFilter{SubjectID: ada.ID, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(rows, func(r storage.AuditEvent) bool { return r.Type == "passkey_clone_suspected" }) {
					t.Fatal("no passkey_clone_suspected row")
				}
				// The genuine key still signs in (which also ends the run of
				// failures the refusals above counted towards the lockout).
				_, form, _ = signInPage(t, e, b)
				resp, body = passkeySignIn(t, b, form, func(o map[string]any) string { return key.assert(o, ada.ID) })
				if u := b.ClientRedirect(resp, body); u.Query().Get("code") == "" {
					t.Fatalf("genuine key after a clone: %s", u)
				}
			})

			t.Run("without user verification a second factor is owed", func(t *testing.T) {
				a := *synced
				a.uv = false
				b := e.Browser()
				_, form, _ := signInPage(t, e, b)
				resp, body := passkeySignIn(t, b, form, func(o map[string]any) string { return a.assert(o, ada.ID) })
				// Ada's only second factor is passkeys: the password comes
				// first (TestUnverifiedPasskeyAloneLeadsToThePassword).
				if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") || !strings.Contains(body, "can only be your second step") {
					t.Fatalf("one factor got %d %s %.300s", resp.StatusCode, loc, body)
				}
				synced.count = a.count
			})

			t.Run("second factor after a password", func(t *testing.T) {
				b := e.Browser()
				verifier, _, page := signInPage(t, e, b)
				resp, page := b.Follow(b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword))
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Use your passkey") {
					t.Fatalf("after password: %d %.1000s", resp.StatusCode, page)
				}
				h := apptest.Hidden(page)
				id, opts := ceremony(t, b, "/login/passkey/mfa/options", url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}})
				if allow, _ := opts["publicKey"].(map[string]any)["allowCredentials"].([]any); len(allow) != 2 {
					t.Fatalf("allowed credentials: %v", allow)
				}
				key.uv = false // a second factor needs no verification
				resp, body := b.Follow(b.Post("/login/passkey/mfa", url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}, "ceremony": {id},
					"credential": {key.assert(opts, ada.ID)}}))
				key.uv = true
				claims := apptest.Claims(t, e.TokensFrom(b.ClientRedirect(resp, body), verifier).IDToken)
				if amr := claims["amr"].([]any); len(amr) != 3 || amr[0] != "pwd" || amr[1] != "hwk" || amr[2] != "mfa" {
					t.Fatalf("amr %v", amr)
				}
			})

			t.Run("renamed, then removed: refused", func(t *testing.T) {
				_, page := b.Get("/account/passkeys")
				csrf := apptest.Hidden(page).Get("csrf")
				ref := b64.EncodeToString(key.id)
				// Bob can neither rename nor remove Ada's passkey.
				_, bobPage := bobB.Get("/account/passkeys")
				bobCSRF := apptest.Hidden(bobPage).Get("csrf")
				for _, path := range []string{"/account/passkeys/rename", "/account/passkeys/remove"} {
					if resp, _ := bobB.Post(path, url.Values{"csrf": {bobCSRF}, "passkey": {ref}, "name": {"mine"}}); resp.StatusCode != http.StatusNotFound {
						t.Fatalf("bob %s: %d", path, resp.StatusCode)
					}
				}
				if resp, page := b.Post("/account/passkeys/rename", url.Values{"csrf": {csrf}, "passkey": {ref}, "name": {"Work laptop"}}); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Work laptop") {
					t.Fatalf("rename: %d", resp.StatusCode)
				}
				if resp, _ := b.Post("/account/passkeys/rename", url.Values{"csrf": {csrf}, "passkey": {ref}, "name": {strings.Repeat("x", 101)}}); resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("long name: %d", resp.StatusCode)
				}
				if resp, page := b.Post("/account/passkeys/remove", url.Values{"csrf": {csrf}, "passkey": {ref}}); resp.StatusCode != http.StatusOK || strings.Contains(page, "“Work laptop”") {
					t.Fatalf("remove: %d %s", resp.StatusCode, page)
				}
				sb := e.Browser()
				_, form, _ := signInPage(t, e, sb)
				resp, body := passkeySignIn(t, sb, form, func(o map[string]any) string { return key.assert(o, ada.ID) })
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("removed passkey: %d %.300s", resp.StatusCode, body)
				}
				rows, _ := e.App.Store.ListAudit(t.Context(), storage.AuditFilter{SubjectID: ada.ID, Limit: 100})
				for _, typ := range []string{"passkey_registered", "passkey_renamed", "passkey_removed"} {
					if !slices.ContainsFunc(rows, func(r storage.AuditEvent) bool { return r.Type == typ }) {
						t.Fatalf("no %s row", typ)
					}
				}
			})

			t.Run("registration needs a recent sign-in", func(t *testing.T) {
				e.Clock.Offset += 20 * 60e9
				defer func() { e.Clock.Offset -= 20 * 60e9 }()
				_, page := b.Get("/account/passkeys")
				csrf := apptest.Hidden(page).Get("csrf")
				resp, body := b.Post("/account/passkeys/options", url.Values{"csrf": {csrf}})
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "/account/signin?fresh=1") {
					t.Fatalf("stale session: %d %.300s", resp.StatusCode, body)
				}
			})
		})
	}
}

// An organization that signs its people in through its own identity
// provider does so for passkeys too, and a reset does not sign them in
// here either: leaving the company ends every way in (review finding).
func TestPasskeyAndResetFollowHomeRealm(t *testing.T) {
	t.Parallel()
	e := passkeyEnv(t, "memory")
	b := e.Browser()
	b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	key := newAuthenticator(t, e)
	addPasskey(t, b, key, "Laptop")
	if mail := e.MailTo(apptest.UserEmail, "A passkey was added"); !strings.Contains(mail, "Laptop") || !strings.Contains(mail, "/account/passkeys") {
		t.Fatalf("notice of the new passkey: %q", mail)
	}
	ctx := t.Context()
	acme := e.Org("acme")
	if err := e.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "example.com", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := e.App.Store.UpsertConnection(ctx, storage.Connection{ID: "acme-sso", Type: "oidc", Name: "Acme SSO", OrgID: acme.ID, Enabled: true,
		Config: []byte(`{"issuer":"https://idp.acme.example","client_id":"c"}`)}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	signer := e.Browser()
	_, form, _ := signInPage(t, e, signer)
	resp, _ := passkeySignIn(t, signer, form, func(opts map[string]any) string { return key.assert(opts, e.User(apptest.UserEmail).ID) })
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/federated/acme-sso?") && !strings.Contains(resp.Request.URL.Path, "/login/federated/") {
		t.Fatalf("passkey sign-in of a home-realm user: %d %s", resp.StatusCode, loc)
	}
	// Forgot → reset from a sign-in: the password changes, nobody is signed in.
	c := e.Browser()
	_, login := c.Authorize(e.AuthURL(nil))
	_, page := c.Get("/forgot?id=" + apptest.Hidden(login).Get("id"))
	c.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail})
	_, page = c.Get(apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password")))
	resp, page = c.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Password changed") {
		t.Fatalf("reset of a home-realm user continued the sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A passkey without user verification is one factor. For a user whose
// only second factor is passkeys it cannot also be the second step: the
// sign-in goes back to the form (no dead end), where the password comes
// first and the same passkey is then the second step.
func TestUnverifiedPasskeyAloneLeadsToThePassword(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := passkeyEnv(t, backend)
			bob := e.User("bob@example.com")
			b := e.Browser()
			b.AccountSignIn("bob@example.com", apptest.UserPassword)
			key := newAuthenticator(t, e)
			addPasskey(t, b, key, "Security key")
			key.uv = false // a key without a PIN

			b2 := e.Browser()
			verifier, form, _ := signInPage(t, e, b2)
			resp, page := passkeySignIn(t, b2, form, func(o map[string]any) string { return key.assert(o, bob.ID) })
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, "can only be your second step") ||
				!strings.Contains(page, `value="bob@example.com"`) || !strings.Contains(page, `name="password"`) {
				t.Fatalf("after an unverified passkey: %d %.1500s", resp.StatusCode, page)
			}
			if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") {
				t.Fatalf("one factor got a code: %s", loc)
			}
			resp, page = b2.Follow(b2.SubmitLogin(page, "bob@example.com", apptest.UserPassword))
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Use your passkey") {
				t.Fatalf("after the password: %d %.1000s", resp.StatusCode, page)
			}
			h := apptest.Hidden(page)
			// Passkeys are bob's only second step: no "another way" that
			// leads nowhere, and the methods page sends him back to them
			// (review finding).
			if strings.Contains(page, "Use another way") || strings.Contains(page, "another way") {
				t.Fatalf("the passkey step offers another way that does not exist: %.1500s", page)
			}
			if resp, _ := b2.Get("/login/mfa?id=" + h.Get("id")); resp.StatusCode != http.StatusSeeOther ||
				!strings.HasPrefix(resp.Header.Get("Location"), "/login/passkey/mfa?id=") {
				t.Fatalf("the methods page for passkeys only: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			passkeyStepAfterPassword(t, e, b2, h, key, bob.ID, verifier)
		})
	}
}

// Someone without a password (who came through a company sign-in) whose
// only way in is a passkey without a PIN: the form says to set a password
// through the reset link, and the reset goes on with the same sign-in,
// which then asks for the passkey as its second step (review finding:
// the reset refused to continue it).
func TestUnverifiedPasskeyWithoutPasswordGoesOnThroughAReset(t *testing.T) {
	t.Parallel()
	e := passkeyEnv(t, "memory")
	ctx := context.Background()
	bob := e.User("bob@example.com")
	b := e.Browser()
	b.AccountSignIn("bob@example.com", apptest.UserPassword)
	key := newAuthenticator(t, e)
	addPasskey(t, b, key, "Security key")
	if err := e.App.Store.SetPassword(ctx, bob.ID, "", e.Clock.Now(), storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	key.uv = false

	b2 := e.Browser()
	verifier, form, _ := signInPage(t, e, b2)
	resp, page := passkeySignIn(t, b2, form, func(o map[string]any) string { return key.assert(o, bob.ID) })
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "to set a password") {
		t.Fatalf("after an unverified passkey, without a password: %d %.1500s", resp.StatusCode, page)
	}
	m := regexp.MustCompile(`href="(/forgot\?id=[0-9a-f]{32})"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no reset link that keeps the sign-in: %.1500s", page)
	}
	_, page = b2.Get(m[1])
	b2.Fill(page, "/forgot", map[string]string{"email": "bob@example.com"})
	_, page = b2.Get(apptest.LinkIn(t, e.MailTo("bob@example.com", "Reset your password")))
	resp, page = b2.Follow(b2.Fill(page, "/reset", map[string]string{"password": "a brand new passphrase for bob"}))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Use your passkey") {
		t.Fatalf("after the reset: %d %.1500s", resp.StatusCode, page)
	}
	passkeyStepAfterPassword(t, e, b2, apptest.Hidden(page), key, bob.ID, verifier)
}

// passkeyStepAfterPassword answers the passkey second step whose page's
// fields are h with key, and checks that the app's ID token says
// password, then key, then two factors.
func passkeyStepAfterPassword(t *testing.T, e *apptest.Env, b *apptest.Browser, h url.Values, key *authenticator, userID, verifier string) {
	t.Helper()
	id, opts := ceremony(t, b, "/login/passkey/mfa/options", url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}})
	resp, body := b.Follow(b.Post("/login/passkey/mfa", url.Values{"id": {h.Get("id")}, "csrf": {h.Get("csrf")}, "ceremony": {id},
		"credential": {key.assert(opts, userID)}}))
	claims := apptest.Claims(t, e.TokensFrom(b.ClientRedirect(resp, body), verifier).IDToken)
	if amr := claims["amr"].([]any); len(amr) != 3 || amr[0] != "pwd" || amr[1] != "hwk" || amr[2] != "mfa" {
		t.Fatalf("amr %v", amr)
	}
}
