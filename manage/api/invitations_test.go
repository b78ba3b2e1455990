package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/notify"
)

var invitationCode = regexp.MustCompile(`[?&]token=([A-Za-z0-9_-]+)`)

// Invitations end to end on both stores: an owner invites by email, the
// token travels only in the mail, only the invited (verified) address can
// accept it, once; revocation and the role ceiling hold.
func TestInvitations(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, _ := adminEnv(t, backend)
			base := "/orgs/" + acme.ID + "/invitations"
			ada := e.TokenOf(apptest.UserEmail) // owner
			if st, _ := e.API("POST", base, e.TokenOf("bob@example.com"), map[string]string{"email": "x@example.com"}); st != http.StatusForbidden {
				t.Fatalf("a member invited: %d", st)
			}
			if st, _ := e.API("POST", base, ada, map[string]string{"email": "not an address"}); st != http.StatusBadRequest {
				t.Fatalf("bad email: %d", st)
			}
			st, body := e.API("POST", base, ada, map[string]string{"email": "Dave@Example.com", "role": "admin"})
			if st != http.StatusCreated || body["status"] != "pending" || body["email"] != "dave@example.com" {
				t.Fatalf("invite: %d %v", st, body)
			}
			var token string
			for _, m := range e.App.Outbox.Messages() {
				if m.To == "dave@example.com" && strings.Contains(m.Subject, "Acme") {
					if sm := invitationCode.FindStringSubmatch(m.Body); sm != nil {
						token = sm[1]
					}
				}
			}
			if token == "" {
				t.Fatalf("no invitation mail: %+v", e.App.Outbox.Messages())
			}
			for _, v := range body {
				if v == token {
					t.Fatal("the token is in the API response")
				}
			}
			// Someone else's account cannot use it; the invited one can, once.
			carol := e.TokenOf("carol@globex.example")
			if st, b := e.API("POST", "/invitations/accept", carol, map[string]string{"token": token}); st != http.StatusForbidden || b["error"] != "email_mismatch" {
				t.Fatalf("accepted by another address: %d %v", st, b)
			}
			dave := e.TokenOf("dave@example.com")
			if st, b := e.API("POST", "/invitations/accept", dave, map[string]string{"token": token}); st != http.StatusOK || b["role"] != "admin" {
				t.Fatalf("accept: %d %v", st, b)
			}
			if st, b := e.API("POST", "/invitations/accept", dave, map[string]string{"token": token}); st != http.StatusBadRequest || b["error"] != "invalid_invitation" {
				t.Fatalf("second use: %d %v", st, b)
			}
			if st, _ := e.API("GET", "/orgs/"+acme.ID+"/members", dave, nil); st != http.StatusOK {
				t.Fatalf("dave cannot read members after joining: %d", st)
			}
			// Revocation, listed with status.
			_, body = e.API("POST", base, ada, map[string]string{"email": "erin@example.com"})
			id, _ := body["id"].(string)
			if st, _ := e.API("DELETE", base+"/"+id, ada, nil); st != http.StatusNoContent {
				t.Fatalf("revoke: %d", st)
			}
			if st, _ := e.API("DELETE", base+"/"+id, ada, nil); st != http.StatusNotFound {
				t.Fatalf("revoke twice: %d", st)
			}
			_, body = e.API("GET", base, ada, nil)
			list, _ := body["invitations"].([]any)
			statuses := map[string]string{}
			for _, x := range list {
				x := x.(map[string]any)
				statuses[x["email"].(string)] = x["status"].(string)
			}
			if statuses["dave@example.com"] != "accepted" || statuses["erin@example.com"] != "revoked" {
				t.Fatalf("statuses: %v", statuses)
			}
			// An admin cannot invite an owner.
			if st, _ := e.API("POST", base, dave, map[string]string{"email": "frank@example.com", "role": "owner"}); st != http.StatusForbidden {
				t.Fatalf("admin invited an owner: %d", st)
			}
		})
	}
}

// An invitation carries no more authority than its inviter still has:
// after the inviting admin is demoted, their admin invitation fails.
func TestInvitationOfADemotedInviterFails(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "memory")
	ada := e.TokenOf(apptest.UserEmail)
	bob := e.User("bob@example.com")
	if st, _ := e.API("PATCH", "/orgs/"+acme.ID+"/members/"+bob.ID, ada, map[string]string{"role": "admin"}); st != http.StatusOK {
		t.Fatalf("promote bob: %d", st)
	}
	if st, _ := e.API("POST", "/orgs/"+acme.ID+"/invitations", e.TokenOf("bob@example.com"), map[string]string{"email": "dave@example.com", "role": "admin"}); st != http.StatusCreated {
		t.Fatalf("bob invites: %d", st)
	}
	var token string
	for _, m := range e.App.Outbox.Messages() {
		if sm := invitationCode.FindStringSubmatch(m.Body); m.To == "dave@example.com" && sm != nil {
			token = sm[1]
		}
	}
	if st, _ := e.API("PATCH", "/orgs/"+acme.ID+"/members/"+bob.ID, ada, map[string]string{"role": "member"}); st != http.StatusOK {
		t.Fatalf("demote bob: %d", st)
	}
	if st, b := e.API("POST", "/invitations/accept", e.TokenOf("dave@example.com"), map[string]string{"token": token}); st != http.StatusForbidden || b["error"] != "inviter_lacks_rights" {
		t.Fatalf("accepting a demoted inviter's invitation: %d %v", st, b)
	}
}

// Invitations send at most the organization's cap, with the same answer.
func TestInvitationMailsAreCappedPerOrganization(t *testing.T) {
	t.Parallel()
	e, acme, _ := adminEnv(t, "memory", func(c *app.Config) {
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 10, PerIP: 100, PerOrganization: 2}
	})
	ada := e.TokenOf(apptest.UserEmail)
	before := len(e.App.Outbox.Messages())
	for i := range 5 {
		st, body := e.API("POST", "/orgs/"+acme.ID+"/invitations", ada, map[string]string{"email": fmt.Sprintf("x%d@example.com", i)})
		if st != http.StatusCreated || body["status"] != "pending" {
			t.Fatalf("invitation %d: %d %v", i, st, body)
		}
	}
	if sent := len(e.App.Outbox.Messages()) - before; sent != 2 {
		t.Fatalf("%d invitation mails, cap 2 per organization", sent)
	}
}

// An invitation mail speaks the invitee's language: the body's language,
// else the request's Accept-Language, else English; the German mail's
// link works, a resend keeps the language, and an unknown language is
// refused by its field.
func TestInvitationLanguages(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e, acme, _ := adminEnv(t, backend)
			base := "/orgs/" + acme.ID + "/invitations"
			ada := e.TokenOf(apptest.UserEmail)
			lastMail := func(to string) notify.Email {
				t.Helper()
				var last notify.Email
				for _, m := range e.App.Outbox.Messages() {
					if m.To == to {
						last = notify.Email{To: m.To, Subject: m.Subject, Text: m.Body}
					}
				}
				if last.To == "" {
					t.Fatalf("no mail to %s", to)
				}
				return last
			}
			german := func(m notify.Email) bool {
				return strings.HasPrefix(m.Subject, "Treten Sie Acme") && strings.Contains(m.Text, "hat Sie eingeladen") &&
					strings.Contains(m.Text, "Nehmen Sie sie hier an:") && !strings.Contains(m.Text, "invited you")
			}

			// German by the body: German words, the role in German, a
			// link that works.
			st, body := e.API("POST", base, ada, map[string]string{"email": "dave@example.com", "role": "admin", "language": "de"})
			if st != http.StatusCreated || body["language"] != "de" {
				t.Fatalf("invite in German: %d %v", st, body)
			}
			m := lastMail("dave@example.com")
			if !german(m) || !strings.Contains(m.Text, "als Administrator/in beizutreten") {
				t.Fatalf("German invitation: %q\n%s", m.Subject, m.Text)
			}
			link := apptest.LinkIn(t, m.Text)
			if !strings.HasPrefix(link, e.Issuer+"/invitations/accept?") {
				t.Fatalf("link: %s", link)
			}
			b := e.Browser()
			b.ConsoleSignIn("dave@example.com", apptest.UserPassword)
			_, page := b.Get(link)
			if resp, _ := b.Fill(page, "/invitations/accept", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/orgs/acme" {
				t.Fatalf("accepting through the German mail's link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}

			// A resend keeps the language.
			_, body = e.API("POST", base, ada, map[string]string{"email": "erin@example.com", "language": "de"})
			id, _ := body["id"].(string)
			st, body = e.API("POST", base+"/"+id+"/resend", ada, nil)
			if st != http.StatusOK || body["language"] != "de" || body["id"] == id {
				t.Fatalf("resend: %d %v", st, body)
			}
			if m := lastMail("erin@example.com"); !german(m) {
				t.Fatalf("resent invitation: %q\n%s", m.Subject, m.Text)
			}

			// An unknown language is refused, by its field, and nothing is
			// sent.
			before := len(e.App.Outbox.Messages())
			for _, bad := range []string{"fr", "de-DE", "deutsch"} {
				st, body = e.API("POST", base, ada, map[string]string{"email": "fay@example.com", "language": bad})
				if st != http.StatusBadRequest || body["error"] != "invalid_request" || body["field"] != "language" {
					t.Fatalf("language %q: %d %v", bad, st, body)
				}
			}
			if n := len(e.App.Outbox.Messages()); n != before {
				t.Fatalf("%d mails sent for refused invitations", n-before)
			}

			// Without a language, Accept-Language decides among the
			// supported ones; English otherwise; the body wins over it.
			for _, c := range []struct{ to, language, accept, want string }{
				{"gus@example.com", "", "de-CH, en;q=0.5", "de"},
				{"hal@example.com", "", "fr-FR, it;q=0.8", "en"},
				{"ivy@example.com", "", "", "en"},
				{"jan@example.com", "en", "de", "en"},
			} {
				in := map[string]string{"email": c.to}
				if c.language != "" {
					in["language"] = c.language
				}
				st, body := apiWithLanguage(t, e, "POST", base, ada, in, c.accept)
				if st != http.StatusCreated || body["language"] != c.want {
					t.Fatalf("%s (Accept-Language %q): %d %v", c.to, c.accept, st, body)
				}
				if m := lastMail(c.to); german(m) != (c.want == "de") || (c.want == "en" && !strings.HasPrefix(m.Subject, "Join Acme")) {
					t.Fatalf("%s: want %s: %q\n%s", c.to, c.want, m.Subject, m.Text)
				}
			}
		})
	}
}

// apiWithLanguage is e.API with an Accept-Language header.
func apiWithLanguage(t *testing.T, e *apptest.Env, method, path, token string, in any, accept string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, e.Issuer+"/api/v1"+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
