package login_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// invite has ada (acme's owner) invite addr as role through the API and
// returns the accept link from the mail.
func invite(t *testing.T, e *apptest.Env, addr, role string) string {
	t.Helper()
	if st, body := e.API("POST", "/orgs/acme/invitations", e.TokenOf(apptest.UserEmail), map[string]string{"email": addr, "role": role}); st != http.StatusCreated {
		t.Fatalf("invite: %d %v", st, body)
	}
	link := apptest.LinkIn(t, e.MailTo(addr, "Acme"))
	if !strings.HasPrefix(link, e.Issuer+"/invitations/accept?") || !strings.Contains(link, "token=") {
		t.Fatalf("the mail does not link to the accept page: %s", link)
	}
	return link
}

// The invitation link shows the organization and role; accepting needs a
// sign-in as the invited, verified address; it works once and lands the
// person in the organization's console.
func TestInvitationAcceptedThroughTheLink(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend, apptest.Tenants)
			link := invite(t, e, "dave@example.com", "admin")
			token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
			b := e.Browser()
			resp, page := b.Get(link)
			if resp.StatusCode != 200 || !strings.Contains(page, "Join Acme Energy") || !strings.Contains(page, "<strong>admin</strong>") ||
				!strings.Contains(page, "Sign in to accept") {
				t.Fatalf("invitation page: %d %.1500s", resp.StatusCode, page)
			}
			// Unknown and mangled tokens say only that.
			for _, bad := range []string{"nope", "", strings.Repeat("x", 5000), "%00"} {
				resp, page := b.Get("/invitations/accept?token=" + url.QueryEscape(bad))
				if resp.StatusCode != 200 || !strings.Contains(page, "Invitation not found") || strings.Contains(page, "Acme") {
					t.Fatalf("token %.20q: %d %.300s", bad, resp.StatusCode, page)
				}
			}
			// Without a form token, or signed out, nothing is accepted.
			if resp, _ := b.Post("/invitations/accept", url.Values{"token": {token.Get("token")}}); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("accept without CSRF: %d", resp.StatusCode)
			}
			_, reg := b.Get("/register?invitation=" + url.QueryEscape(token.Get("token"))) // a form token of this browser
			resp, _ = b.Post("/invitations/accept", url.Values{"token": {token.Get("token")}, "csrf": {apptest.Hidden(reg).Get("csrf")}})
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?") {
				t.Fatalf("signed-out accept: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}

			// Someone else signed in cannot take it.
			carol := e.Browser()
			carol.ConsoleSignIn("carol@globex.example", apptest.UserPassword)
			_, page = carol.Get(link)
			resp, page = carol.Fill(page, "/invitations/accept", nil)
			if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "was sent to dave@example.com") {
				t.Fatalf("accepted by another address: %d %.800s", resp.StatusCode, page)
			}

			// The invited person signs in (through the console) and accepts.
			b.ConsoleSignIn("dave@example.com", apptest.UserPassword)
			_, page = b.Get(link)
			if !strings.Contains(page, "Signed in as dave@example.com") {
				t.Fatalf("signed-in invitation page: %.1500s", page)
			}
			resp, _ = b.Fill(page, "/invitations/accept", nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/orgs/acme" {
				t.Fatalf("accept: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, page = b.Get("/console/orgs/acme/members")
			if resp.StatusCode != 200 || !strings.Contains(page, "dave@example.com") || !strings.Contains(page, "your role: <strong>admin</strong>") {
				t.Fatalf("console after accepting: %d %.1500s", resp.StatusCode, page)
			}
			// Once only.
			_, page = b.Get(link)
			if !strings.Contains(page, "already accepted") || strings.Contains(page, "Accept and join") {
				t.Fatalf("an accepted invitation offers itself again: %.1500s", page)
			}
		})
	}
}

// With invite_only registration an invitation opens registration for its
// own address, and only that one.
func TestInvitationOpensRegistrationForItsAddress(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Accounts.Registration = "invite_only" })
	if resp, _ := e.Browser().Get("/register"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("invite-only registration without an invitation: %d", resp.StatusCode)
	}
	link := invite(t, e, "newbie@example.com", "member")
	q, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	b := e.Browser()
	_, page := b.Get(link)
	if !strings.Contains(page, "Create an account with newbie@example.com") {
		t.Fatalf("no way to register from the invitation: %.1500s", page)
	}
	if resp, _ := b.Get("/register?invitation=not-a-token"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("registration with a bogus invitation: %d", resp.StatusCode)
	}
	resp, page := b.Get("/register?invitation=" + url.QueryEscape(q.Get("token")))
	if resp.StatusCode != 200 || !strings.Contains(page, `value="newbie@example.com"`) || strings.Contains(page, `name="company"`) {
		t.Fatalf("register page for an invitation: %d %.1500s", resp.StatusCode, page)
	}
	// A different address in the form is ignored: the account is the
	// invited address's.
	resp, page = b.Fill(page, "/register", map[string]string{"name": "New Bie", "email": "someone-else@example.com",
		"password": "a long passphrase for newbie 42", "company": "Sneaky Corp"})
	if resp.StatusCode != 200 || !strings.Contains(page, "newbie@example.com") {
		t.Fatalf("register: %d %.1500s", resp.StatusCode, page)
	}
	if _, err := e.App.Store.UserByEmail(t.Context(), "someone-else@example.com"); err == nil {
		t.Fatal("an invitation opened registration for another address")
	}
	u := e.User("newbie@example.com")
	if ms, _ := e.App.Store.MembershipsByUser(t.Context(), u.ID); len(ms) != 0 {
		t.Fatalf("registering made memberships before the invitation was accepted: %+v", ms)
	}
	// The address is confirmed from the mail, then the invitation accepted.
	b.ConfirmEmail(apptest.LinkIn(t, e.MailTo("newbie@example.com", "onfirm")))
	b.ConsoleSignIn("newbie@example.com", "a long passphrase for newbie 42")
	_, page = b.Get(link)
	resp, _ = b.Fill(page, "/invitations/accept", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/orgs/acme" {
		t.Fatalf("accept after registering: %d %s %.500s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
}
