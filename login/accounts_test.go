package login_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// Registration → verification → login, plus the rules around it.
func TestRegisterVerifyLogin(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			b := e.Browser()
			verifier, ch := apptest.PKCE()
			_, page := b.Authorize(e.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}))
			id := apptest.Hidden(page).Get("id")
			if !strings.Contains(page, "/register?id="+id) {
				t.Fatal("login page does not offer registration")
			}
			_, reg := b.Get("/register?id=" + id)
			resp, body := b.Fill(reg, "/register", map[string]string{"name": "Grace Hopper", "email": "grace@globex.example",
				"password": "short", "company": "Globex Trading"})
			if resp.StatusCode != 400 || !strings.Contains(body, "at least 15 characters") {
				t.Fatalf("weak password: %d", resp.StatusCode)
			}
			resp, body = b.Fill(reg, "/register", map[string]string{"name": "Grace Hopper", "email": "grace@globex.example",
				"password": apptest.NewPassword, "company": "Globex Trading"})
			if resp.StatusCode != 200 || !strings.Contains(body, "Check your email") {
				t.Fatalf("register: %d", resp.StatusCode)
			}
			u, err := e.App.Store.UserByEmail(ctx, "grace@globex.example")
			if err != nil || u.EmailVerified {
				t.Fatalf("new user: %+v %v", u, err)
			}
			ms, _ := e.App.Store.MembershipsByUser(ctx, u.ID)
			if len(ms) != 1 || ms[0].Role != "owner" {
				t.Fatalf("company must create an org owned by the user: %+v", ms)
			}
			link := apptest.LinkIn(t, e.MailTo("grace@globex.example", "Confirm your email"))
			if !strings.HasPrefix(link, e.Issuer+"/verify-email?token=") || !strings.HasSuffix(link, "&id="+id) {
				t.Fatalf("link %s", link)
			}
			// Confirming in the browser that registered goes back to the
			// application, signed in: no second sign-in.
			// Opening the link (as a mail scanner would) confirms nothing.
			if resp, page := e.Browser().Get(link); resp.StatusCode != 200 || !strings.Contains(page, "Confirm my address") {
				t.Fatalf("the link's page: %d", resp.StatusCode)
			}
			if u, _ = e.App.Store.UserByEmail(ctx, "grace@globex.example"); u.EmailVerified {
				t.Fatal("opening the link verified the address")
			}
			resp, body = b.Follow(b.ConfirmEmail(link))
			if tok := e.TokensFrom(b.ClientRedirect(resp, body), verifier); apptest.Claims(t, tok.IDToken)["email"] != "grace@globex.example" {
				t.Fatal("id token of the new user")
			}
			if resp, _ := b.Get(link); resp.StatusCode != 400 {
				t.Fatal("verification link worked twice")
			}
			if u, _ = e.App.Store.UserByEmail(ctx, "grace@globex.example"); !u.EmailVerified {
				t.Fatal("email not verified")
			}

			// An existing email: the same answer, and a note to the owner.
			other := e.Browser()
			_, reg = other.Get("/register")
			resp, body = other.Fill(reg, "/register", map[string]string{"name": "Mallory", "email": apptest.UserEmail, "password": apptest.NewPassword})
			if resp.StatusCode != 200 || !strings.Contains(body, "We sent a message to "+apptest.UserEmail) {
				t.Fatalf("existing email: %d", resp.StatusCode)
			}
			e.MailTo(apptest.UserEmail, "Someone tried to create an account")

			// A verified domain places new users in its organization only
			// after they verify their address, and only when the
			// organization opted in.
			acme, _ := e.App.Store.OrganizationBySlug(ctx, "acme")
			if err := e.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "acme.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			memberOfAcme := func(email string) bool {
				u, _ := e.App.Store.UserByEmail(ctx, email)
				ms, _ := e.App.Store.MembershipsByUser(ctx, u.ID)
				return slices.ContainsFunc(ms, func(m storage.Membership) bool { return m.OrgID == acme.ID && m.Role == "member" })
			}
			register := func(name, email string) {
				_, reg := other.Get("/register")
				other.Fill(reg, "/register", map[string]string{"name": name, "email": email, "password": apptest.NewPassword})
			}
			register("Carol", "carol@acme.example")
			if memberOfAcme("carol@acme.example") {
				t.Fatal("an unverified sign-up joined the organization of its domain")
			}
			other.ConfirmEmail(apptest.LinkIn(t, e.MailTo("carol@acme.example", "Confirm")))
			if memberOfAcme("carol@acme.example") {
				t.Fatal("joined by domain although the organization did not opt in")
			}
			if err := e.App.Store.SetJoinByDomain(ctx, acme.ID, true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			register("Dan", "dan@acme.example")
			if memberOfAcme("dan@acme.example") {
				t.Fatal("an unverified sign-up joined an opted-in organization")
			}
			other.ConfirmEmail(apptest.LinkIn(t, e.MailTo("dan@acme.example", "Confirm")))
			if !memberOfAcme("dan@acme.example") {
				t.Fatal("a verified address did not join the opted-in organization")
			}
			if evs, _ := e.App.Store.ListAudit(ctx, storage.AuditFilter{Type: "user_registered"}); len(evs) != 3 {
				t.Fatalf("user_registered rows: %d", len(evs))
			}
		})
	}
}

func TestRegistrationClosed(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Accounts.Registration = "invite_only" })
	if resp, body := e.Browser().Get("/register"); resp.StatusCode != 403 || !strings.Contains(body, "invitation") {
		t.Fatalf("%d", resp.StatusCode)
	}
}

// CHECKS 49: reset links are single use, at most 1 h, built from the
// configured issuer whatever the request's Host, revoke every session and
// refresh token, and do not sign the user in.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			b := e.Browser()
			code, v := e.CodeFor(b, nil)
			_, body := e.Exchange(code, v)
			tok := apptest.DecodeToken(t, body)

			forgot := func(email string) string {
				other := e.Browser()
				_, page := other.Get("/forgot")
				f := apptest.Hidden(page)
				f.Set("email", email)
				req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/forgot", strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				// Forged proxy headers must not reach the link.
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("Forwarded", "host=evil.example;proto=https")
				_, body := other.Do(req)
				return body
			}
			known, unknown := forgot(apptest.UserEmail), forgot("nobody@example.com")
			norm := func(s string) string {
				return strings.NewReplacer(apptest.UserEmail, "X", "nobody@example.com", "X").Replace(hiddenID(s))
			}
			if norm(known) != norm(unknown) || !strings.Contains(known, "Check your email") {
				t.Fatalf("forgot answers differ for known and unknown emails:\n%s\n---\n%s", norm(known), norm(unknown))
			}
			link := apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password"))
			if !strings.HasPrefix(link, e.Issuer+"/reset?token=") {
				t.Fatalf("reset link not built from the issuer: %s", link)
			}
			_, page := b.Get(link)
			resp, page := b.Fill(page, "/reset", map[string]string{"password": "password1234"})
			if resp.StatusCode != 400 || !strings.Contains(page, "at least 15 characters") {
				t.Fatalf("weak reset password: %d", resp.StatusCode)
			}
			resp, body = b.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword}) // the page carries a fresh token
			if resp.StatusCode != 200 || !strings.Contains(body, "Password changed") {
				t.Fatalf("reset: %d %.200s", resp.StatusCode, body)
			}
			if resp, _ := b.Fill(page, "/reset", map[string]string{"password": "another long passphrase ok"}); resp.StatusCode != 400 {
				t.Fatal("reset token worked twice")
			}
			r, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
			if r.StatusCode != 400 {
				t.Fatal("refresh token survived the reset")
			}
			_, ch := apptest.PKCE()
			resp, body = b.Follow(b.Get(e.AuthURL(map[string]string{"prompt": "none", "code_challenge": ch, "code_challenge_method": "S256"})))
			if u := b.ClientRedirect(resp, body); u.Query().Get("error") != "login_required" {
				t.Fatal("session survived the reset")
			}
			if u := e.Browser().Login(e.AuthURL(nil), apptest.UserEmail, apptest.NewPassword); u.Query().Get("code") == "" {
				t.Fatal("new password does not work")
			}
			// Expired links.
			forgot(apptest.UserEmail)
			link = apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password"))
			e.Clock.Offset = 61 * time.Minute
			// An unusable link says so before any form, with the way on.
			if resp, page := b.Get(link); resp.StatusCode != 400 || !strings.Contains(page, "This link no longer works") ||
				strings.Contains(page, `name="password"`) || !strings.Contains(page, `href="/forgot"`) {
				t.Fatalf("expired reset link: %d %.500s", resp.StatusCode, page)
			}
			if resp, page := b.Get("/reset?token=bogus"); resp.StatusCode != 400 || strings.Contains(page, `name="password"`) {
				t.Fatalf("bogus reset link: %d", resp.StatusCode)
			}
		})
	}
}

// Registering an existing email costs the same work as a new account (a
// password hash), so its answer time does not reveal the account.
func TestRegistrationTimingRevealsNoAccount(t *testing.T) {
	e := apptest.New(t, "memory", func(c *app.Config) { c.Passwords.Argon2 = password.DefaultParams() })
	register := func(email string) time.Duration {
		b := e.Browser()
		_, reg := b.Get("/register")
		start := time.Now()
		resp, _ := b.Fill(reg, "/register", map[string]string{"name": "Someone", "email": email, "password": apptest.NewPassword})
		d := time.Since(start)
		if resp.StatusCode != 200 {
			t.Fatalf("register %s: %d", email, resp.StatusCode)
		}
		return d
	}
	var existing, fresh []time.Duration
	for i := range 9 {
		existing = append(existing, register(apptest.UserEmail))
		fresh = append(fresh, register(fmt.Sprintf("new%d@example.com", i)))
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	me, mf := median(existing), median(fresh)
	if gap := mf - me; gap > mf/3 {
		t.Fatalf("an existing email answers %v faster (median %v vs %v)", gap, me, mf)
	}
}

// Company sign-ups always create a valid organization, atomically with
// the account (the slug's random suffix once broke the slug rule).
func TestCompanySignUpsCreateValidOrganizations(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			ctx := context.Background()
			for i := range 20 {
				email := fmt.Sprintf("founder%d@startup%d.example", i, i)
				b := e.Browser()
				_, reg := b.Get("/register")
				if resp, _ := b.Fill(reg, "/register", map[string]string{"name": "F", "email": email, "password": apptest.NewPassword,
					"company": "Énergie & Co_" + strconv.Itoa(i)}); resp.StatusCode != 200 {
					t.Fatalf("sign-up %d: %d", i, resp.StatusCode)
				}
				u, err := e.App.Store.UserByEmail(ctx, email)
				if err != nil {
					t.Fatalf("sign-up %d: no user: %v", i, err)
				}
				ms, _ := e.App.Store.MembershipsByUser(ctx, u.ID)
				if len(ms) != 1 || ms[0].Role != "owner" {
					t.Fatalf("sign-up %d: memberships %+v", i, ms)
				}
				o, _ := e.App.Store.OrganizationByID(ctx, ms[0].OrgID)
				if !manage.ValidSlug(o.Slug) {
					t.Fatalf("sign-up %d: slug %q", i, o.Slug)
				}
			}
		})
	}
}

// Forgot → reset from a sign-in goes back to that sign-in: the new
// password counts as the password step, so the application gets its code
// without the user typing anything again; a second factor is still owed;
// another browser only gets the plain notice.
func TestResetContinuesTheSignIn(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	verifier, ch := apptest.PKCE()
	_, login := b.Authorize(e.AuthURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}))
	m := regexp.MustCompile(`href="(/forgot\?id=[0-9a-f]{32})"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("the login page's forgot link drops the sign-in: %.1500s", login)
	}
	_, page := b.Get(m[1])
	b.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail})
	link := apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password"))
	if !strings.Contains(link, "&id=") {
		t.Fatalf("the reset link forgets the sign-in: %s", link)
	}
	// Opened in another browser: the password is reset, nothing else.
	other := e.Browser()
	_, page = other.Get(link)
	resp, body := other.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword})
	if resp.StatusCode != 200 || !strings.Contains(body, "Password changed") {
		t.Fatalf("reset in another browser: %d %.300s", resp.StatusCode, body)
	}
	// The same trip in the browser that started the sign-in continues it.
	_, page = b.Get(m[1])
	b.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail})
	_, page = b.Get(apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password"))) // the newest
	resp, body = b.Follow(b.Fill(page, "/reset", map[string]string{"password": "a second brand new passphrase"}))
	u := b.ClientRedirect(resp, body)
	if u.Query().Get("code") == "" {
		t.Fatalf("after the reset: %s", u)
	}
	if tok := e.TokensFrom(u, verifier); tok.AccessToken == "" {
		t.Fatal("no tokens after the reset")
	}
}

// A verification link opened in another browser confirms the address and
// signs nobody in there.
func TestVerificationElsewhereSignsNobodyIn(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	_, page := b.Authorize(e.AuthURL(nil))
	id := apptest.Hidden(page).Get("id")
	_, reg := b.Get("/register?id=" + id)
	b.Fill(reg, "/register", map[string]string{"name": "Grace", "email": "grace@example.com", "password": apptest.NewPassword})
	link := apptest.LinkIn(t, e.MailTo("grace@example.com", "Confirm your email"))
	resp, body := e.Browser().ConfirmEmail(link)
	if resp.StatusCode != 200 || !strings.Contains(body, "Email confirmed") {
		t.Fatalf("verify elsewhere: %d %.300s", resp.StatusCode, body)
	}
	if !e.User("grace@example.com").EmailVerified {
		t.Fatal("not verified")
	}
}
