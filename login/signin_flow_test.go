package login_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Regression tests for the sign-in state machine (login.owed): each is
// an attack that once got a code while the sign-in still owed something.

// noCode follows resp within the provider and fails when it ends at the
// client with a code.
func noCode(t *testing.T, b *apptest.Browser, what string, resp *http.Response, body string) {
	t.Helper()
	resp, _ = b.Follow(resp, body)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") {
		t.Fatalf("%s handed out a code: %s", what, loc)
	}
}

// consentForm is a consent POST for request id of this browser, with its
// CSRF token, as an attacker would forge it.
func consentForm(b *apptest.Browser, id, csrf string) url.Values {
	return url.Values{"id": {id}, "csrf": {csrf}, "decision": {"allow"}}
}

// requestID reads the id of the auth request from a page's hidden field.
func requestID(t *testing.T, page string) string {
	t.Helper()
	id := apptest.Hidden(page).Get("id")
	if id == "" {
		t.Fatalf("no request id on the page: %.300s", page)
	}
	return id
}

// Consent may be given only for a request that reached the consent step:
// a forged POST /consent for a request that still owes a second factor,
// step-up, a fresh sign-in (prompt=login, max_age) or a verified email
// gives no code.
func TestConsentCannotSkipWhatASignInOwes(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			b := e.Browser()
			b.Login(e.AuthURL(nil), apptest.UserEmail, apptest.UserPassword) // a password-only session
			consentURL := func(extra map[string]string) map[string]string {
				p := map[string]string{"client_id": "consent", "scope": "openid email", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
				for k, v := range extra {
					p[k] = v
				}
				return p
			}
			// The CSRF token of this browser, from any of its forms.
			_, page := b.Authorize(e.AuthURL(consentURL(map[string]string{"prompt": "login"})))
			csrf := apptest.Hidden(page).Get("csrf")
			for name, extra := range map[string]map[string]string{
				"step-up (acr_values)": {"acr_values": "urn:optibid:acr:mfa"},
				"prompt=login":         {"prompt": "login"},
				"max_age":              {"max_age": "0"},
			} {
				resp, page := b.Get(e.AuthURL(consentURL(extra)))
				loc, _ := url.Parse(resp.Header.Get("Location"))
				id := loc.Query().Get("id")
				if id == "" {
					t.Fatalf("%s: no auth request: %d %s %.200s", name, resp.StatusCode, loc, page)
				}
				b.Get(loc.String()) // the request moves to what it owes
				resp, body := b.Post("/consent", consentForm(b, id, csrf))
				noCode(t, b, "consent for a request owing "+name, resp, body)
				resp, body = b.Get("/authorize/callback?id=" + id)
				noCode(t, b, "the callback of a request owing "+name, resp, body)
			}
			// A verified email the client requires.
			ada := e.User(apptest.UserEmail)
			c, _ := e.App.Store.ClientByID(ctx, "consent")
			c.RequireVerifiedEmail = true
			if _, err := e.App.Store.UpsertClient(ctx, c, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			e.App.Provider.ForgetClient("consent")
			if err := e.App.Store.UpdateProfile(ctx, ada.ID, ada.Name, false, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			resp, _ := b.Get(e.AuthURL(consentURL(nil)))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			id := loc.Query().Get("id")
			resp, body := b.Post("/consent", consentForm(b, id, csrf))
			noCode(t, b, "consent for a request owing a verified email", resp, body)
			// Once nothing else is owed, consent gives the code.
			if err := e.App.Store.UpdateProfile(ctx, ada.ID, ada.Name, true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			resp, _ = b.Get(e.AuthURL(consentURL(nil)))
			loc, _ = url.Parse(resp.Header.Get("Location"))
			resp, page = b.Follow(b.Get(loc.String()))
			if !strings.Contains(page, "Allow access?") {
				t.Fatalf("consent page: %d %.200s", resp.StatusCode, page)
			}
			resp, body = b.Follow(b.Post("/consent", consentForm(b, requestID(t, page), csrf)))
			if u := b.ClientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("consent at the consent step: %s", u)
			}
		})
	}
}

// During a sign-in a password alone enrolls a second factor only for a
// user who has none: a user whose only factor is a phone cannot replace
// it with a new authenticator and finish with amr mfa.
func TestPasswordAloneCannotEnrollOverAnExistingFactor(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			ada := e.User(apptest.UserEmail)
			if err := e.App.Store.SetPhone(ctx, ada.ID, "+41791234567", true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			b := e.Browser()
			page, _ := toMFA(e, b, nil)
			id := requestID(t, page)
			resp, page := b.Get("/login/mfa/enroll?id=" + id)
			if strings.Contains(page, "otpauth") || resp.StatusCode == 200 && strings.Contains(page, "Scan") {
				t.Fatalf("enrollment offered to a user with a phone: %d", resp.StatusCode)
			}
			resp, body := b.Post("/login/mfa/enroll", url.Values{"id": {id}, "csrf": {apptest.Hidden(page).Get("csrf")}, "code": {"123456"}})
			noCode(t, b, "enrollment over an existing factor", resp, body)
			if tt, err := e.App.Store.TOTPByUser(ctx, ada.ID); err == nil && !tt.ConfirmedAt.IsZero() {
				t.Fatal("an authenticator was enrolled with the password alone")
			}
			evs, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{Type: "enrollment_refused"})
			if len(evs) == 0 {
				t.Fatal("refused enrollment not audited")
			}
		})
	}
}

// Every step URL, reached out of order for a request that owes a second
// factor, in the same browser and in another one, gives no code.
func TestSignInStepsOutOfOrder(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			enrollTOTP(e, e.Browser())
			b := e.Browser()
			page, _ := toMFA(e, b, map[string]string{"scope": "openid org offline_access"})
			id, csrf := requestID(t, page), apptest.Hidden(page).Get("csrf")
			other := e.Browser()
			other.Login(e.AuthURL(map[string]string{"client_id": "web2", "redirect_uri": "https://other.example/cb"}), "bob@example.com", apptest.UserPassword)
			_, otherPage := other.Authorize(e.AuthURL(map[string]string{"prompt": "login"}))
			otherCSRF := apptest.Hidden(otherPage).Get("csrf")
			for _, br := range []struct {
				name string
				b    *apptest.Browser
				csrf string
			}{{"same browser", b, csrf}, {"another browser", other, otherCSRF}} {
				for _, step := range []struct {
					method, path string
					form         url.Values
				}{
					{"GET", "/consent?id=" + id, nil},
					{"POST", "/consent", url.Values{"id": {id}, "decision": {"allow"}}},
					{"POST", "/login/org", url.Values{"id": {id}, "org": {"x"}}},
					{"GET", "/login/mfa/enroll?id=" + id, nil},
					{"POST", "/login/mfa/enroll", url.Values{"id": {id}, "code": {"000000"}}},
					{"POST", "/login/mfa", url.Values{"id": {id}, "method": {"totp"}, "code": {"000000"}}},
					{"POST", "/login/mfa", url.Values{"id": {id}, "method": {"otp"}, "channel": {"email"}, "challenge": {"x"}, "code": {"000000"}}},
					{"POST", "/login/mfa/send", url.Values{"id": {id}, "channel": {"email"}}},
					{"GET", "/login?id=" + id, nil},
					{"GET", "/authorize/callback?id=" + id, nil},
				} {
					var resp *http.Response
					var body string
					if step.method == "GET" {
						resp, body = br.b.Get(step.path)
					} else {
						step.form.Set("csrf", br.csrf)
						resp, body = br.b.Post(step.path, step.form)
					}
					noCode(t, br.b, br.name+": "+step.method+" "+step.path, resp, body)
				}
			}
		})
	}
}

// Parallel password attempts cannot outrun the lockout: 49 wrong and 1
// right password sent together, in rounds, never leave the account with
// the lock threshold reached but unlocked (the right one never erases
// failures admitted after it, nor gets in past their lock), every attempt
// is accounted for, and a burst is evaluated at most up to the hard cap.
func TestParallelPasswordsCannotOutrunTheLockout(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, func(c *app.Config) {
				c.Lockout = app.LockoutConfig{BackoffAfter: 20, BackoffMax: time.Minute, LockAfter: 20, LockFor: 15 * time.Minute, MaxFailures: 100}
			})
			ctx := context.Background()
			bob := e.User("bob@example.com")
			// Pre-load the browsers so the attempts themselves run together.
			for round := range 3 {
				if err := e.App.Store.SetPassword(ctx, bob.ID, bob.PasswordHash, e.Clock.Now(), storage.AuditEvent{}); err != nil { // clears the lockout
					t.Fatal(err)
				}
				type attempt struct {
					b    *apptest.Browser
					page string
					pw   string
				}
				var all []attempt
				for i := range 50 {
					b := e.Browser()
					_, page := b.Authorize(e.AuthURL(nil))
					pw := "wrong password!"
					if i == 25 {
						pw = apptest.UserPassword
					}
					all = append(all, attempt{b, page, pw})
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				statuses := map[int]int{}
				for _, a := range all {
					wg.Add(1)
					go func() {
						defer wg.Done()
						resp, _ := a.b.SubmitLogin(a.page, "bob@example.com", a.pw)
						mu.Lock()
						statuses[resp.StatusCode]++
						mu.Unlock()
					}()
				}
				wg.Wait()
				if statuses[500]+statuses[503] > 0 || statuses[401]+statuses[303]+statuses[302] != 50 {
					t.Fatalf("round %d: statuses %v", round, statuses)
				}
				u := e.User("bob@example.com")
				if u.FailedLogins >= 20 && !u.Locked(e.Clock.Now()) {
					t.Fatalf("round %d: %d failures but not locked: a success erased the lock", round, u.FailedLogins)
				}
				if u.FailedLogins > 20 {
					t.Fatalf("round %d: %d wrong passwords evaluated past the lock at 20", round, u.FailedLogins)
				}
			}
		})
	}
}

// Logout and authorization errors bounce nobody to an address anyone could
// register: an anonymous /end_session without an id_token_hint shows our
// signed-out page; with a valid hint it returns to a vouched client (the
// operator's, or one of an organization with a verified domain); a client
// of an organization without a verified domain gets pages, not redirects.
func TestNoBounceToUnvouchedAddresses(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ctx := context.Background()
	anon := e.Browser()
	resp, _ := anon.Get("/end_session?client_id=web&post_logout_redirect_uri=" + url.QueryEscape("https://rp.example/bye"))
	if loc := resp.Header.Get("Location"); loc != "/logged-out" {
		t.Fatalf("anonymous logout bounced to %q", loc)
	}
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	hint := apptest.DecodeToken(t, body).IDToken
	resp, _ = anon.Get("/end_session?id_token_hint=" + hint + "&post_logout_redirect_uri=" + url.QueryEscape("https://rp.example/bye"))
	if loc := resp.Header.Get("Location"); loc != "https://rp.example/bye" {
		t.Fatalf("logout with a valid hint: %q", loc)
	}
	// An organization's client, its organization without a verified domain.
	acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme")
	if _, err := e.App.Store.UpsertClient(ctx, storage.Client{ID: "throwaway", OrgID: acme.ID, Name: "Throwaway", SecretHash: storage.HashSecret(apptest.WebSecret),
		RedirectURIs: []string{"https://evil.example/cb"}, PostLogoutRedirectURIs: []string{"https://evil.example/bye"},
		GrantTypes: []string{"authorization_code"}}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	resp, _ = anon.Get(e.AuthURL(map[string]string{"client_id": "throwaway", "redirect_uri": "https://evil.example/cb", "scope": "openid nope"}))
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("authorization error of an unvouched client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Nor from the sign-in screens (prompt=none without a session).
	resp, body = anon.Follow(anon.Get(e.AuthURL(map[string]string{"client_id": "throwaway", "redirect_uri": "https://evil.example/cb", "scope": "openid",
		"prompt": "none"})))
	if resp.StatusCode != 400 || strings.Contains(resp.Header.Get("Location"), "evil.example") || !strings.Contains(body, "login_required") {
		t.Fatalf("sign-in error of an unvouched client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = anon.Get("/end_session?client_id=throwaway&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/bye"))
	if loc := resp.Header.Get("Location"); loc != "/logged-out" {
		t.Fatalf("logout bounced to an unvouched client: %q", loc)
	}
	// Once the organization verifies a domain, its clients are vouched.
	if err := e.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "acme.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	resp, _ = anon.Get(e.AuthURL(map[string]string{"client_id": "throwaway", "redirect_uri": "https://evil.example/cb", "scope": "openid nope"}))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != 302 || loc.Query().Get("error") != "invalid_scope" {
		t.Fatalf("authorization error of a vouched client: %d %s", resp.StatusCode, loc)
	}
}

// A session alone (a stolen cookie) enrolls no authenticator: a user
// without a factor asked for MFA re-enters the password first.
func TestSessionAloneEnrollsNoAuthenticator(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ch := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	b := e.Browser()
	b.Login(e.AuthURL(nil), "bob@example.com", apptest.UserPassword)
	resp, page := b.Follow(b.Get(e.AuthURL(map[string]string{"acr_values": "urn:optibid:acr:mfa", "code_challenge": ch, "code_challenge_method": "S256"})))
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) || strings.Contains(page, "otpauth") {
		t.Fatalf("step-up from a session without a factor: %d %.300s", resp.StatusCode, page)
	}
}

// The client's organization is binding: after access_denied, no other
// organization can be picked for the same request; organization= and
// org:<slug> must agree.
func TestTheRequestedOrganizationIsBinding(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", apptest.Tenants)
	acme, globex := e.Org("acme"), e.Org("globex")
	ctx := context.Background()
	if err := e.App.Store.UpsertMembership(ctx, storage.Membership{UserID: e.User("dave@example.com").ID, OrgID: acme.ID, Role: "member"}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	d := e.Browser()
	_, page := d.Authorize(e.AuthURL(map[string]string{"scope": "openid org", "organization": "globex"}))
	resp, body := d.Follow(d.SubmitLogin(page, "dave@example.com", apptest.UserPassword))
	if u := d.ClientRedirect(resp, body); u.Query().Get("error") != "access_denied" {
		t.Fatalf("non-member: %s", u)
	}
	resp, _ = d.Post("/login/org", url.Values{"id": {apptest.Hidden(page).Get("id")}, "csrf": {apptest.Hidden(page).Get("csrf")}, "org": {acme.ID}})
	noCode(t, d, "picking another organization than the client asked for", resp, "")
	resp, _ = d.Get(e.AuthURL(map[string]string{"scope": "openid org:" + globex.Slug, "organization": acme.Slug}))
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("organization and org:<slug> disagreeing: %s", loc)
	}
}
