package login_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/mfa"
	"github.com/optibid/idp/storage"
)

var (
	secretRE = regexp.MustCompile(`<code class="secret">([A-Z2-7 ]+)</code>`)
	codesRE  = regexp.MustCompile(`<li><code>([A-Z2-7-]{19})</code></li>`)
	nextRE   = regexp.MustCompile(`<a class="button" href="([^"]+)">I saved them`)
)

// enrollTOTP sets up TOTP from the account page and returns the secret and
// backup codes.
func enrollTOTP(e *apptest.Env, b *apptest.Browser) (string, []string) {
	e.T.Helper()
	b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	_, page := b.Get("/account/totp")
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		e.T.Fatalf("no secret on the enrollment page: %.300s", page)
	}
	m[1] = strings.ReplaceAll(m[1], " ", "") // shown in groups of four
	code, _ := totp.GenerateCode(m[1], e.Clock.Now())
	resp, page := b.Fill(page, "/account/totp", map[string]string{"code": code})
	var codes []string
	for _, c := range codesRE.FindAllStringSubmatch(page, -1) {
		codes = append(codes, c[1])
	}
	if resp.StatusCode != 200 || len(codes) != mfa.BackupCodeCount {
		e.T.Fatalf("confirm: %d, %d codes", resp.StatusCode, len(codes))
	}
	return m[1], codes
}

// toMFA runs the password step and returns the MFA page.
func toMFA(e *apptest.Env, b *apptest.Browser, params map[string]string) (string, string) {
	e.T.Helper()
	verifier, ch := apptest.PKCE()
	p := map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}
	for k, v := range params {
		p[k] = v
	}
	_, page := b.Authorize(e.AuthURL(p))
	resp, _ := b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/mfa?id=") {
		e.T.Fatalf("password step led to %d %q, want the MFA step", resp.StatusCode, loc)
	}
	_, page = b.Get(resp.Header.Get("Location"))
	return page, verifier
}

// Enroll TOTP → sign in with TOTP (amr, acr); replayed codes, backup codes
// once, failures counted (CHECKS 51, 52).
func TestTOTPJourney(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			secret, backup := enrollTOTP(e, e.Browser())
			e.Clock.Offset = 30 * time.Second // the next time step: the enrollment code is spent
			b := e.Browser()
			mfaPage, verifier := toMFA(e, b, nil)
			code, _ := totp.GenerateCode(secret, e.Clock.Now())
			resp, body := b.Follow(b.Fill(mfaPage, "/login/mfa", map[string]string{"method": "totp", "code": code}))
			tok := e.TokensFrom(b.ClientRedirect(resp, body), verifier)
			c := apptest.Claims(t, tok.IDToken)
			amr := strings.Join(func() []string {
				var s []string
				for _, v := range c["amr"].([]any) {
					s = append(s, v.(string))
				}
				return s
			}(), " ")
			if amr != "pwd otp mfa" || c["acr"] != storage.ACRMFA {
				t.Fatalf("amr %q acr %v", amr, c["acr"])
			}
			// The same code again (another browser, same step): refused.
			b2 := e.Browser()
			mfaPage, _ = toMFA(e, b2, nil)
			resp, body = b2.Fill(mfaPage, "/login/mfa", map[string]string{"method": "totp", "code": code})
			if resp.StatusCode != 401 || !strings.Contains(body, "not right") {
				t.Fatalf("replayed TOTP: %d", resp.StatusCode)
			}
			if u, _ := e.App.Store.UserByEmail(ctx, apptest.UserEmail); u.FailedLogins != 1 {
				t.Fatalf("wrong second factor not counted: %d", u.FailedLogins)
			}
			// ±2 steps: refused.
			old, _ := totp.GenerateCode(secret, e.Clock.Now().Add(-60*time.Second))
			resp, _ = b2.Fill(mfaPage, "/login/mfa", map[string]string{"method": "totp", "code": old})
			if resp.StatusCode != 401 {
				t.Fatal("code from two steps ago accepted")
			}
			// A backup code works once.
			resp, body = b2.Follow(b2.Fill(mfaPage, "/login/mfa", map[string]string{"method": "backup", "code": strings.ToLower(backup[3])}))
			if u := b2.ClientRedirect(resp, body); u.Query().Get("code") == "" {
				t.Fatalf("backup code refused: %s", u)
			}
			b3 := e.Browser()
			mfaPage, _ = toMFA(e, b3, nil)
			if resp, _ := b3.Fill(mfaPage, "/login/mfa", map[string]string{"method": "backup", "code": backup[3]}); resp.StatusCode != 401 {
				t.Fatal("backup code accepted twice")
			}
			if u, _ := e.App.Store.UserByEmail(ctx, apptest.UserEmail); u.FailedLogins != 0 {
				// the backup-code login succeeded after the two failures and reset the count; one more failure since
				if u.FailedLogins != 1 {
					t.Fatalf("failures %d", u.FailedLogins)
				}
			}
			if n, _ := e.App.Store.BackupCodesRemaining(ctx, e.User(apptest.UserEmail).ID); n != 9 {
				t.Fatalf("backup codes left %d", n)
			}
		})
	}
}

// CHECKS 51, F6: 50 parallel submissions of one TOTP code: exactly one login.
func TestTOTPParallel(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			secret, _ := enrollTOTP(e, e.Browser())
			e.Clock.Offset = 30 * time.Second
			type attempt struct {
				b    *apptest.Browser
				page string
			}
			var attempts []attempt
			for range 50 {
				b := e.Browser()
				page, _ := toMFA(e, b, nil)
				attempts = append(attempts, attempt{b, page})
			}
			code, _ := totp.GenerateCode(secret, e.Clock.Now())
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := 0
			for _, a := range attempts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, _ := a.b.Fill(a.page, "/login/mfa", map[string]string{"method": "totp", "code": code})
					if apptest.IsRedirect(resp.StatusCode) {
						mu.Lock()
						ok++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if ok != 1 {
				t.Fatalf("%d logins with one TOTP code, want exactly 1", ok)
			}
		})
	}
}

// Org policy "required": a member without a factor enrolls during login.
func TestOrgRequiresMFA(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme")
			if err := e.App.Store.SetMFAPolicy(ctx, acme.ID, "required", storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			b := e.Browser()
			verifier, ch := apptest.PKCE()
			_, page := b.Authorize(e.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}))
			resp, _ := b.SubmitLogin(page, "bob@example.com", apptest.UserPassword)
			resp, page = b.Follow(resp, "")
			if !strings.Contains(page, "Set up two-step verification") {
				t.Fatalf("no forced enrollment: %d %.200s", resp.StatusCode, page)
			}
			secret := strings.ReplaceAll(secretRE.FindStringSubmatch(page)[1], " ", "")
			code, _ := totp.GenerateCode(secret, e.Clock.Now())
			_, page = b.Fill(page, "/login/mfa/enroll", map[string]string{"code": code})
			next := nextRE.FindStringSubmatch(page)
			if next == nil {
				t.Fatalf("no backup codes page: %.300s", page)
			}
			resp, body := b.Follow(b.Get(apptest.HTMLUnescape(next[1])))
			tok := e.TokensFrom(b.ClientRedirect(resp, body), verifier)
			if apptest.Claims(t, tok.IDToken)["acr"] != storage.ACRMFA {
				t.Fatal("acr after forced enrollment")
			}
		})
	}
}

// CHECKS 54: after the password step nothing yields a code before the
// second factor: not the callback, not consent, not a second tab.
func TestNoStepSkipping(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	enrollTOTP(e, e.Browser())
	b := e.Browser()
	mfaPage, _ := toMFA(e, b, nil)
	id := apptest.Hidden(mfaPage).Get("id")
	for _, u := range []string{"/authorize/callback?id=" + id, "/consent?id=" + id, "/login?id=" + id} {
		resp, body := b.Follow(b.Get(u))
		if strings.Contains(resp.Header.Get("Location"), "code=") || strings.Contains(body, "code=") {
			t.Fatalf("%s yielded a code", u)
		}
	}
	// A second tab in the same browser starts its own request: password
	// again, then the MFA step again.
	resp, page := b.Authorize(e.AuthURL(nil))
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("second tab: %d", resp.StatusCode)
	}
	// Another browser cannot touch the pending request.
	if resp, _ := e.Browser().Get("/login/mfa?id=" + id); resp.StatusCode != 403 {
		t.Fatalf("pending request in another browser: %d", resp.StatusCode)
	}
}

// Step-up: acr_values asks for MFA on a password-only session.
func TestStepUp(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	enrollTOTP(e, e.Browser())
	// Sign in once with both factors; then a request asking for MFA is silent,
	// while bob (password only) is stepped up.
	b := e.Browser()
	b.Login(e.AuthURL(nil), "bob@example.com", apptest.UserPassword)
	_, ch := apptest.PKCE()
	resp, _ := b.Follow(b.Get(e.AuthURL(map[string]string{"acr_values": storage.ACRMFA, "code_challenge": ch, "code_challenge_method": "S256"})))
	_ = resp
	resp, _ = b.Get(e.AuthURL(map[string]string{"acr_values": storage.ACRMFA, "code_challenge": ch, "code_challenge_method": "S256"}))
	resp, page := b.Get(resp.Header.Get("Location"))
	// bob has no factor yet: the session alone enrolls none, so he enters
	// his password again, and then sets up the second step.
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("password-only session with acr_values mfa: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.SubmitLogin(page, "bob@example.com", apptest.UserPassword)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/mfa?id=") {
		t.Fatalf("step-up after the password: %d %q", resp.StatusCode, loc)
	}
	resp, _ = b.Follow(b.Get(e.AuthURL(map[string]string{"prompt": "none", "acr_values": storage.ACRMFA, "code_challenge": ch, "code_challenge_method": "S256"})))
	if u, _ := url.Parse(resp.Header.Get("Location")); u.Query().Get("error") != "interaction_required" {
		t.Fatalf("prompt=none step-up: %s", resp.Header.Get("Location"))
	}
}

// CHECKS 49: a password reset does not bypass the second factor.
func TestResetKeepsMFA(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	enrollTOTP(e, e.Browser())
	b := e.Browser()
	_, page := b.Get("/forgot")
	b.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail})
	_, page = b.Get(apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password")))
	if resp, body := b.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword}); resp.StatusCode != 200 {
		t.Fatalf("reset: %d %.200s", resp.StatusCode, body)
	}
	if tt, err := e.App.Store.TOTPByUser(context.Background(), e.User(apptest.UserEmail).ID); err != nil || tt.ConfirmedAt.IsZero() {
		t.Fatal("reset removed the authenticator")
	}
	_, page = b.Authorize(e.AuthURL(nil))
	resp, _ := b.SubmitLogin(page, apptest.UserEmail, apptest.NewPassword)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa?id=") {
		t.Fatalf("sign-in after reset skipped the second factor: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A mistyped first code at enrollment (or a reload) keeps the secret the
// user already added to their app; the page offers a link that opens the
// app on a phone and the key in groups for typing.
func TestEnrollmentKeepsItsSecretAfterATypo(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	_, page := b.Get("/account/totp")
	first := secretRE.FindStringSubmatch(page)
	if first == nil || !strings.Contains(page, `href="otpauth://totp/`) || !regexp.MustCompile(`[A-Z2-7]{4} [A-Z2-7]{4}`).MatchString(first[1]) {
		t.Fatalf("enrollment page: %.2000s", page)
	}
	resp, page := b.Fill(page, "/account/totp", map[string]string{"code": "000000"})
	again := secretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusUnauthorized || again == nil || again[1] != first[1] {
		t.Fatalf("after a wrong code: %d, secret %v (was %s)", resp.StatusCode, again, first[1])
	}
	_, page = b.Get("/account/totp") // a reload
	if again := secretRE.FindStringSubmatch(page); again == nil || again[1] != first[1] {
		t.Fatal("a reload replaced the secret")
	}
	code, _ := totp.GenerateCode(strings.ReplaceAll(first[1], " ", ""), e.Clock.Now())
	if resp, _ := b.Fill(page, "/account/totp", map[string]string{"code": code}); resp.StatusCode != http.StatusOK {
		t.Fatalf("the first secret's code: %d", resp.StatusCode)
	}
	// A stale enrollment gets a new secret.
	b2 := e.Browser()
	b2.AccountSignIn("bob@example.com", apptest.UserPassword)
	_, page = b2.Get("/account/totp")
	bobFirst := secretRE.FindStringSubmatch(page)[1]
	e.Clock.Offset = time.Hour
	b2.AccountSignIn("bob@example.com", apptest.UserPassword)
	_, page = b2.Get("/account/totp")
	if secretRE.FindStringSubmatch(page)[1] == bobFirst {
		t.Fatal("an enrollment an hour old kept its secret")
	}
}

// A reset that continues a sign-in still owes the second factor.
func TestResetContinuationStillAsksTheSecondFactor(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	enrollTOTP(e, e.Browser())
	b := e.Browser()
	_, login := b.Authorize(e.AuthURL(nil))
	id := apptest.Hidden(login).Get("id")
	_, page := b.Get("/forgot?id=" + id)
	b.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail})
	_, page = b.Get(apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password")))
	resp, _ := b.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword})
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/mfa?id=") {
		t.Fatalf("the reset skipped the second factor: %d %s", resp.StatusCode, loc)
	}
}

// Backup codes can be kept: a text file to download (no script needed)
// holding every code, copy and print for browsers that run the page's
// script.
func TestBackupCodesCanBeKept(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	_, page := b.Get("/account/totp")
	secret := strings.ReplaceAll(secretRE.FindStringSubmatch(page)[1], " ", "")
	code, _ := totp.GenerateCode(secret, e.Clock.Now())
	_, page = b.Fill(page, "/account/totp", map[string]string{"code": code})
	codes := codesRE.FindAllStringSubmatch(page, -1)
	m := regexp.MustCompile(`href="data:text/plain;charset=utf-8,([^"]+)" download="backup-codes.txt"`).FindStringSubmatch(page)
	if len(codes) != mfa.BackupCodeCount || m == nil {
		t.Fatalf("backup codes page: %d codes, download %v: %.2000s", len(codes), m != nil, page)
	}
	text, err := url.PathUnescape(apptest.HTMLUnescape(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if !strings.Contains(text, c[1]) {
			t.Fatalf("the download lacks %s: %q", c[1], text)
		}
	}
	if !strings.Contains(page, "data-print") || !strings.Contains(page, `src="/static/codes.js"`) {
		t.Fatal("no print or copy")
	}
}
