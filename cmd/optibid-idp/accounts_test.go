package main

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

	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/storage"
)

// mailTo returns the newest outbox message to addr whose subject contains
// subject, or fails.
func (e *env) mailTo(addr, subject string) string {
	e.t.Helper()
	for _, m := range e.app.Outbox.Messages() {
		if m.To == addr && strings.Contains(m.Subject, subject) {
			return m.Body
		}
	}
	e.t.Fatalf("no mail to %s about %q", addr, subject)
	return ""
}

var linkRE = regexp.MustCompile(`https?://\S+`)

func linkIn(t testing.TB, body string) string {
	t.Helper()
	l := linkRE.FindString(body)
	if l == "" {
		t.Fatalf("no link in %q", body)
	}
	return l
}

// formRE finds forms and the action they post to.
var formRE = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)

// fill posts the first form of page that posts to action: its hidden
// fields plus values. (A page may hold several forms; their fields must
// not mix.)
func (b *browser) fill(page, action string, values map[string]string) (*http.Response, string) {
	b.t.Helper()
	f := url.Values{}
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if htmlUnescape(m[1]) == action {
			f = hidden(m[2])
			break
		}
	}
	if f.Get("csrf") == "" {
		b.t.Fatalf("no form posting to %s on the page: %.300s", action, page)
	}
	for k, v := range values {
		f.Set(k, v)
	}
	return b.post(action, f)
}

// tokensFrom finishes a flow at its client redirect and redeems the code.
func (e *env) tokensFrom(u *url.URL, verifier string) tokenResponse {
	e.t.Helper()
	if u.Query().Get("code") == "" {
		e.t.Fatalf("no code: %s", u)
	}
	_, body := e.exchange(u.Query().Get("code"), verifier)
	return decode(e.t.(*testing.T), body)
}

const newPassword = "orbit lantern velvet harbor"

// Registration → verification → login, plus the rules around it.
func TestRegisterVerifyLogin(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			ctx := context.Background()
			b := e.browser()
			verifier, ch := pkce()
			_, page := b.authorize(e.authURL(map[string]string{"code_challenge": ch, "code_challenge_method": "S256"}))
			id := hidden(page).Get("id")
			if !strings.Contains(page, "/register?id="+id) {
				t.Fatal("login page does not offer registration")
			}
			_, reg := b.get("/register?id=" + id)
			resp, body := b.fill(reg, "/register", map[string]string{"name": "Grace Hopper", "email": "grace@globex.example",
				"password": "short", "company": "Globex Trading"})
			if resp.StatusCode != 400 || !strings.Contains(body, "at least 15 characters") {
				t.Fatalf("weak password: %d", resp.StatusCode)
			}
			resp, body = b.fill(reg, "/register", map[string]string{"name": "Grace Hopper", "email": "grace@globex.example",
				"password": newPassword, "company": "Globex Trading"})
			if resp.StatusCode != 200 || !strings.Contains(body, "Check your email") {
				t.Fatalf("register: %d", resp.StatusCode)
			}
			u, err := e.app.Store.UserByEmail(ctx, "grace@globex.example")
			if err != nil || u.EmailVerified {
				t.Fatalf("new user: %+v %v", u, err)
			}
			ms, _ := e.app.Store.MembershipsByUser(ctx, u.ID)
			if len(ms) != 1 || ms[0].Role != "owner" {
				t.Fatalf("company must create an org owned by the user: %+v", ms)
			}
			link := linkIn(t, e.mailTo("grace@globex.example", "Confirm your email"))
			if !strings.HasPrefix(link, e.issuer+"/verify-email?token=") {
				t.Fatalf("link %s", link)
			}
			if resp, body := b.get(link); resp.StatusCode != 200 || !strings.Contains(body, "Email confirmed") {
				t.Fatalf("verify: %d", resp.StatusCode)
			}
			if resp, _ := b.get(link); resp.StatusCode != 400 {
				t.Fatal("verification link worked twice")
			}
			if u, _ = e.app.Store.UserByEmail(ctx, "grace@globex.example"); !u.EmailVerified {
				t.Fatal("email not verified")
			}
			// The original auth request continues with the new account.
			_, page = b.get("/login?id=" + id)
			resp, body = b.follow(b.submitLogin(page, "grace@globex.example", newPassword))
			if tok := e.tokensFrom(b.clientRedirect(resp, body), verifier); claimsOf(t, tok.IDToken)["email"] != "grace@globex.example" {
				t.Fatal("id token of the new user")
			}

			// An existing email: the same answer, and a note to the owner.
			other := e.browser()
			_, reg = other.get("/register")
			resp, body = other.fill(reg, "/register", map[string]string{"name": "Mallory", "email": userEmail, "password": newPassword})
			if resp.StatusCode != 200 || !strings.Contains(body, "We sent a message to "+userEmail) {
				t.Fatalf("existing email: %d", resp.StatusCode)
			}
			e.mailTo(userEmail, "Someone tried to create an account")

			// A verified domain places new users in its organization only
			// after they verify their address, and only when the
			// organization opted in.
			acme, _ := e.app.Store.OrganizationBySlug(ctx, "acme")
			if err := e.app.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "acme.example", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			memberOfAcme := func(email string) bool {
				u, _ := e.app.Store.UserByEmail(ctx, email)
				ms, _ := e.app.Store.MembershipsByUser(ctx, u.ID)
				return slices.ContainsFunc(ms, func(m storage.Membership) bool { return m.OrgID == acme.ID && m.Role == "member" })
			}
			register := func(name, email string) {
				_, reg := other.get("/register")
				other.fill(reg, "/register", map[string]string{"name": name, "email": email, "password": newPassword})
			}
			register("Carol", "carol@acme.example")
			if memberOfAcme("carol@acme.example") {
				t.Fatal("an unverified sign-up joined the organization of its domain")
			}
			other.get(linkIn(t, e.mailTo("carol@acme.example", "Confirm")))
			if memberOfAcme("carol@acme.example") {
				t.Fatal("joined by domain although the organization did not opt in")
			}
			if err := e.app.Store.SetJoinByDomain(ctx, acme.ID, true, storage.AuditEvent{}); err != nil {
				t.Fatal(err)
			}
			register("Dan", "dan@acme.example")
			if memberOfAcme("dan@acme.example") {
				t.Fatal("an unverified sign-up joined an opted-in organization")
			}
			other.get(linkIn(t, e.mailTo("dan@acme.example", "Confirm")))
			if !memberOfAcme("dan@acme.example") {
				t.Fatal("a verified address did not join the opted-in organization")
			}
			if evs, _ := e.app.Store.ListAudit(ctx, storage.AuditFilter{Type: "user_registered"}); len(evs) != 3 {
				t.Fatalf("user_registered rows: %d", len(evs))
			}
		})
	}
}

func TestRegistrationClosed(t *testing.T) {
	e := newEnv(t, "memory", func(c *Config) { c.Accounts.Registration = "invite_only" })
	if resp, body := e.browser().get("/register"); resp.StatusCode != 403 || !strings.Contains(body, "invitation") {
		t.Fatalf("%d", resp.StatusCode)
	}
}

// CHECKS 49: reset links are single use, at most 1 h, built from the
// configured issuer whatever the request's Host, revoke every session and
// refresh token, and do not sign the user in.
func TestPasswordReset(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			b := e.browser()
			code, v := e.codeFor(b, nil)
			_, body := e.exchange(code, v)
			tok := decode(t, body)

			forgot := func(email string) string {
				other := e.browser()
				_, page := other.get("/forgot")
				f := hidden(page)
				f.Set("email", email)
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/forgot", strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				// Forged proxy headers must not reach the link.
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("Forwarded", "host=evil.example;proto=https")
				_, body := other.do(req)
				return body
			}
			known, unknown := forgot(userEmail), forgot("nobody@example.com")
			norm := func(s string) string {
				return strings.NewReplacer(userEmail, "X", "nobody@example.com", "X").Replace(hiddenID(s))
			}
			if norm(known) != norm(unknown) || !strings.Contains(known, "Check your email") {
				t.Fatalf("forgot answers differ for known and unknown emails:\n%s\n---\n%s", norm(known), norm(unknown))
			}
			link := linkIn(t, e.mailTo(userEmail, "Reset your password"))
			if !strings.HasPrefix(link, e.issuer+"/reset?token=") {
				t.Fatalf("reset link not built from the issuer: %s", link)
			}
			_, page := b.get(link)
			resp, page := b.fill(page, "/reset", map[string]string{"password": "password1234"})
			if resp.StatusCode != 400 || !strings.Contains(page, "at least 15 characters") {
				t.Fatalf("weak reset password: %d", resp.StatusCode)
			}
			resp, body = b.fill(page, "/reset", map[string]string{"password": newPassword}) // the page carries a fresh token
			if resp.StatusCode != 200 || !strings.Contains(body, "Password changed") {
				t.Fatalf("reset: %d %.200s", resp.StatusCode, body)
			}
			if resp, _ := b.fill(page, "/reset", map[string]string{"password": "another long passphrase ok"}); resp.StatusCode != 400 {
				t.Fatal("reset token worked twice")
			}
			r, _ := e.postToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", webSecret)
			if r.StatusCode != 400 {
				t.Fatal("refresh token survived the reset")
			}
			_, ch := pkce()
			resp, body = b.follow(b.get(e.authURL(map[string]string{"prompt": "none", "code_challenge": ch, "code_challenge_method": "S256"})))
			if u := b.clientRedirect(resp, body); u.Query().Get("error") != "login_required" {
				t.Fatal("session survived the reset")
			}
			if u := e.browser().login(e.authURL(nil), userEmail, newPassword); u.Query().Get("code") == "" {
				t.Fatal("new password does not work")
			}
			// Expired links.
			forgot(userEmail)
			link = linkIn(t, e.mailTo(userEmail, "Reset your password"))
			e.clock.offset = 61 * time.Minute
			_, page = b.get(link)
			if resp, _ := b.fill(page, "/reset", map[string]string{"password": "yet another long passphrase"}); resp.StatusCode != 400 {
				t.Fatal("expired reset link accepted")
			}
		})
	}
}

// Registering an existing email costs the same work as a new account (a
// password hash), so its answer time does not reveal the account.
func TestRegistrationTimingRevealsNoAccount(t *testing.T) {
	e := newEnv(t, "memory", func(c *Config) { c.Passwords.Argon2 = password.DefaultParams() })
	register := func(email string) time.Duration {
		b := e.browser()
		_, reg := b.get("/register")
		start := time.Now()
		resp, _ := b.fill(reg, "/register", map[string]string{"name": "Someone", "email": email, "password": newPassword})
		d := time.Since(start)
		if resp.StatusCode != 200 {
			t.Fatalf("register %s: %d", email, resp.StatusCode)
		}
		return d
	}
	var existing, fresh []time.Duration
	for i := range 9 {
		existing = append(existing, register(userEmail))
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
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			ctx := context.Background()
			for i := range 20 {
				email := fmt.Sprintf("founder%d@startup%d.example", i, i)
				b := e.browser()
				_, reg := b.get("/register")
				if resp, _ := b.fill(reg, "/register", map[string]string{"name": "F", "email": email, "password": newPassword,
					"company": "Énergie & Co_" + strconv.Itoa(i)}); resp.StatusCode != 200 {
					t.Fatalf("sign-up %d: %d", i, resp.StatusCode)
				}
				u, err := e.app.Store.UserByEmail(ctx, email)
				if err != nil {
					t.Fatalf("sign-up %d: no user: %v", i, err)
				}
				ms, _ := e.app.Store.MembershipsByUser(ctx, u.ID)
				if len(ms) != 1 || ms[0].Role != "owner" {
					t.Fatalf("sign-up %d: memberships %+v", i, ms)
				}
				o, _ := e.app.Store.OrganizationByID(ctx, ms[0].OrgID)
				if !storage.ValidSlug(o.Slug) {
					t.Fatalf("sign-up %d: slug %q", i, o.Slug)
				}
			}
		})
	}
}
