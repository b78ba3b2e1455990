package login_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// The account page: profile, sessions, password change, re-authentication
// and the user's own security events (CHECKS 50, 57).
func TestAccountPage(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			b := e.Browser()
			b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			other := e.Browser()
			other.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			bob := e.Browser()
			bob.AccountSignIn("bob@example.com", apptest.UserPassword)

			_, page := b.Get("/account")
			if strings.Count(page, `action="/account/sessions/end"`) != 1 || !strings.Contains(page, "this browser") {
				t.Fatalf("sessions list: %.500s", page)
			}
			if !strings.Contains(page, "<td>Signed in</td>") || strings.Contains(page, "login_succeeded") || strings.Contains(page, "bob@example.com") {
				t.Fatal("events must be the user's own")
			}
			resp, page := b.Fill(page, "/account/profile", map[string]string{"name": "Countess Lovelace"})
			if resp.StatusCode != 200 || !strings.Contains(page, `value="Countess Lovelace"`) {
				t.Fatalf("profile: %d", resp.StatusCode)
			}
			// End the other session.
			resp, page = b.Fill(page, "/account/sessions/end", nil)
			if resp.StatusCode != 200 || !strings.Contains(page, "signed out") {
				t.Fatalf("end session: %d", resp.StatusCode)
			}
			if resp, _ := other.Get("/account"); resp.Header.Get("Location") != "/account/signin" {
				t.Fatal("ended session still works")
			}
			// Password change needs the current password; it ends every other
			// session and refresh token, and keeps this browser signed in.
			code, v := e.CodeFor(e.Browser(), nil)
			_, body := e.Exchange(code, v)
			rt := apptest.DecodeToken(t, body).RefreshToken
			resp, page = b.Fill(page, "/account/password", map[string]string{"current": "not my password", "new": apptest.NewPassword})
			if resp.StatusCode != 401 {
				t.Fatalf("password change without the current one: %d", resp.StatusCode)
			}
			resp, page = b.Fill(page, "/account/password", map[string]string{"current": apptest.UserPassword, "new": apptest.NewPassword})
			if resp.StatusCode != 200 || !strings.Contains(page, "Password changed") {
				t.Fatalf("password change: %d", resp.StatusCode)
			}
			if r, _ := e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", apptest.WebSecret); r.StatusCode != 400 {
				t.Fatal("refresh token survived a password change")
			}
			if resp, _ := b.Get("/account"); resp.StatusCode != 200 {
				t.Fatal("this browser was signed out by its own password change")
			}
			// Factor changes need a recent sign-in.
			e.Clock.Offset = 20 * time.Minute
			if resp, _ := b.Get("/account/totp"); resp.Header.Get("Location") != "/account/signin?fresh=1" {
				t.Fatalf("stale session enrolled a factor: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp, _ := e.Browser().Get("/account"); resp.Header.Get("Location") != "/account/signin" {
				t.Fatal("account page without a session")
			}
		})
	}
}

// The account page lists the person's organizations (leaving one, unless
// last owner), downloads their data, and deletes the account after the
// address and password are given.
func TestAccountOrganizationsExportDelete(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ada := e.Browser()
	page := ada.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	if !strings.Contains(page, "Your organizations") || !strings.Contains(page, "Acme Energy") {
		t.Fatalf("organizations: %.3000s", page)
	}
	resp, page := ada.Fill(page, "/account/orgs/leave", nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "last owner") {
		t.Fatalf("the last owner left: %d", resp.StatusCode)
	}
	resp, body := ada.Fill(page, "/account/export", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(body, apptest.UserEmail) {
		t.Fatalf("export: %d %.300s", resp.StatusCode, body)
	}
	bob := e.Browser()
	page = bob.AccountSignIn("bob@example.com", apptest.UserPassword)
	// Another organization's ID names nothing of bob's.
	if resp, _ := bob.Post("/account/orgs/leave", url.Values{"csrf": {apptest.Hidden(page).Get("csrf")}, "org": {"nope"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("leaving an organization one is not in: %d", resp.StatusCode)
	}
	resp, page = bob.Fill(page, "/account/orgs/leave", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "You left the organization.") {
		t.Fatalf("leave: %d", resp.StatusCode)
	}
	if ms, _ := e.App.Store.MembershipsByUser(t.Context(), e.User("bob@example.com").ID); len(ms) != 0 {
		t.Fatalf("memberships after leaving: %+v", ms)
	}
	for name, f := range map[string]map[string]string{
		"no confirmation": {"confirm": "", "password": apptest.UserPassword},
		"wrong password":  {"confirm": "bob@example.com", "password": "not the password at all"},
	} {
		if resp, _ := bob.Fill(page, "/account/delete", f); resp.StatusCode == 200 {
			t.Fatalf("deleted with %s", name)
		}
	}
	_, page = bob.Get("/account")
	if resp, page := bob.Fill(page, "/account/delete", map[string]string{"confirm": "BOB@example.com", "password": apptest.UserPassword}); resp.StatusCode != 200 || !strings.Contains(page, "Your account is deleted") {
		t.Fatalf("delete: %d %.300s", resp.StatusCode, page)
	}
	if _, err := e.App.Store.UserByEmail(t.Context(), "bob@example.com"); err == nil {
		t.Fatal("the account is still there")
	}
}

// Company sign-ins are listed and can be unlinked while another way in
// remains; the only way in stays.
func TestAccountUnlinkIdentity(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	ctx := t.Context()
	if err := e.App.Store.UpsertConnection(ctx, storage.Connection{ID: "corp", Type: "oidc", Name: "Corp SSO", Enabled: true, DefaultRole: "member",
		Config: []byte(`{"issuer":"https://idp.corp.example","client_id":"c"}`)}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	ada := e.User(apptest.UserEmail)
	fi := storage.FederatedIdentity{ConnectionID: "corp", Issuer: "https://idp.corp.example", Subject: "ada-1", UserID: ada.ID, Email: "ada@corp.example"}
	if err := e.App.Store.LinkIdentity(ctx, fi, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	b := e.Browser()
	page := b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	if !strings.Contains(page, "Company sign-ins") || !strings.Contains(page, "Corp SSO") || !strings.Contains(page, "ada@corp.example") {
		t.Fatalf("identities: %.3000s", page)
	}
	resp, page := b.Fill(page, "/account/identities/unlink", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "unlinked") || strings.Contains(page, "Corp SSO") {
		t.Fatalf("unlink: %d %.500s", resp.StatusCode, page)
	}
	if _, err := e.App.Store.IdentityByUpstream(ctx, fi.ConnectionID, fi.Issuer, fi.Subject); err == nil {
		t.Fatal("still linked")
	}
}

// Changing the address: the password first, a link to the new address,
// a click there; the old address is told; a taken address stays whose it
// is; a used link does nothing.
func TestAccountEmailChange(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	page := b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	if resp, _ := b.Fill(page, "/account/email", map[string]string{"email": "ada.new@example.com", "password": "not my password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the password: %d", resp.StatusCode)
	}
	_, page = b.Get("/account")
	resp, page := b.Fill(page, "/account/email", map[string]string{"email": "Ada.New@example.com", "password": apptest.UserPassword})
	if resp.StatusCode != 200 || !strings.Contains(page, "We sent a link to the new address") {
		t.Fatalf("request: %d", resp.StatusCode)
	}
	if e.User(apptest.UserEmail).Email != apptest.UserEmail {
		t.Fatal("the address changed before it was confirmed")
	}
	link := apptest.LinkIn(t, e.MailTo("ada.new@example.com", "Confirm your new email address"))
	// Opening the link changes nothing, and only ada, signed in here,
	// confirms: the new mailbox's owner cannot be made to attach their
	// address to an account that is not theirs.
	stranger := e.Browser()
	if resp, page := stranger.Get(link); resp.StatusCode != 200 || !strings.Contains(page, "Sign in to confirm") {
		t.Fatalf("link page for someone signed out: %d", resp.StatusCode)
	}
	bob := e.Browser()
	bobPage := bob.AccountSignIn("bob@example.com", apptest.UserPassword)
	if _, page := bob.Get(link); !strings.Contains(page, "Sign in to confirm") {
		t.Fatal("another account may confirm ada's change")
	}
	tok := strings.SplitN(link, "token=", 2)[1]
	if resp, _ := bob.Post("/account/email/confirm", url.Values{"csrf": {apptest.Hidden(bobPage).Get("csrf")}, "token": {tok}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob posting ada's link: %d", resp.StatusCode)
	}
	if _, err := e.App.Store.UserByEmail(t.Context(), "ada.new@example.com"); err == nil {
		t.Fatal("the address changed without its owner")
	}
	_, confirm := b.Get(link)
	if !strings.Contains(confirm, "ada@example.com") || !strings.Contains(confirm, "ada.new@example.com") {
		t.Fatalf("the confirm page does not name the account: %.800s", confirm)
	}
	resp, page = b.Fill(confirm, "/account/email/confirm", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Email changed") {
		t.Fatalf("confirm: %d %.300s", resp.StatusCode, page)
	}
	u, err := e.App.Store.UserByEmail(t.Context(), "ada.new@example.com")
	if err != nil || !u.EmailVerified {
		t.Fatalf("after the change: %+v %v", u, err)
	}
	if mail := e.MailTo(apptest.UserEmail, "Your email address was changed"); !strings.Contains(mail, "ada.new@example.com") {
		t.Fatalf("notice to the old address: %q", mail)
	}
	if resp, _ := b.Fill(confirm, "/account/email/confirm", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a used link: %d", resp.StatusCode)
	}
	// bob asks for ada's new address: the confirmation refuses it.
	_, page = bob.Get("/account")
	bob.Fill(page, "/account/email", map[string]string{"email": "ada.new@example.com", "password": apptest.UserPassword})
	var link2 string
	for _, m := range e.App.Outbox.Messages() {
		if m.To == "ada.new@example.com" && strings.Contains(m.Body, "bob@example.com") {
			link2 = apptest.LinkIn(t, m.Body)
		}
	}
	_, confirm = bob.Get(link2)
	if resp, page := bob.Fill(confirm, "/account/email/confirm", nil); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "That address is taken") {
		t.Fatalf("a taken address: %d", resp.StatusCode)
	}
	if e.User("bob@example.com").Email != "bob@example.com" {
		t.Fatal("bob's address changed")
	}
}

// An address on a domain whose organization signs its people in
// elsewhere is that organization's: changing away from it is refused.
func TestEmailChangeKeepsCompanySignIn(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	page := b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	ctx := t.Context()
	acme := e.Org("acme")
	if err := e.App.Store.AddDomain(ctx, storage.OrganizationDomain{OrgID: acme.ID, Domain: "example.com", VerifiedAt: time.Now()}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := e.App.Store.UpsertConnection(ctx, storage.Connection{ID: "acme-sso", Type: "oidc", Name: "Acme SSO", OrgID: acme.ID, Enabled: true,
		Config: []byte(`{"issuer":"https://idp.acme.example","client_id":"c"}`)}, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	if resp, page := b.Fill(page, "/account/email", map[string]string{"email": "ada@private.example", "password": apptest.UserPassword}); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Your organization manages your address") {
		t.Fatalf("leaving the company's domain: %d", resp.StatusCode)
	}
}
