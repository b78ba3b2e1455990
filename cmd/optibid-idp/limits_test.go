package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/optibid/idp/login/notify"
)

// outboxTo counts the mails sent to addr.
func (e *env) outboxTo(addr string) int {
	n := 0
	for _, m := range e.app.Outbox.Messages() {
		if m.To == addr {
			n++
		}
	}
	return n
}

// Mail goes out within caps per recipient, per client address and per
// organization, and the pages answer the same whether or not a cap (or an
// account) was hit.
func TestMailLimitsHoldAndAnswerTheSame(t *testing.T) {
	e := newEnv(t, "memory", func(c *Config) {
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 3, PerIP: 8, PerOrganization: 2, SMSPerDestination: 2, SMSPerPrefix: 3}
	})
	forgot := func(email string) string {
		b := e.browser()
		_, page := b.get("/forgot")
		resp, body := b.fill(page, "/forgot", map[string]string{"email": email})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("forgot: %d", resp.StatusCode)
		}
		return strings.ReplaceAll(strings.Split(body, "Reference")[0], email, "EMAIL")
	}
	first := forgot(userEmail)
	for range 5 {
		if got := forgot(userEmail); got != first {
			t.Fatal("the answer changed once the recipient's cap was hit")
		}
	}
	if n := e.outboxTo(userEmail); n != 3 {
		t.Fatalf("%d reset mails to one address, cap 3", n)
	}
	// The client address cap (8) holds across recipients: 6 were counted,
	// so 2 more get through and the rest do not.
	for i := range 5 {
		forgot(fmt.Sprintf("nobody%d@example.com", i))
		if i == 0 && forgot("bob@example.com") != first {
			t.Fatal("answers differ for another address")
		}
	}
	if n := e.outboxTo("bob@example.com"); n != 1 {
		t.Fatalf("bob's mail: %d", n)
	}
	total := len(e.app.Outbox.Messages())
	if total > 8 {
		t.Fatalf("%d mails from one client address, cap 8", total)
	}
}

// Invitations send at most the organization's cap, with the same answer.
func TestInvitationMailsAreCappedPerOrganization(t *testing.T) {
	e, acme, _ := adminEnv(t, "memory", func(c *Config) {
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 10, PerIP: 100, PerOrganization: 2}
	})
	ada := e.tokenOf(userEmail)
	before := len(e.app.Outbox.Messages())
	for i := range 5 {
		st, body := e.api("POST", "/orgs/"+acme.ID+"/invitations", ada, map[string]string{"email": fmt.Sprintf("x%d@example.com", i)})
		if st != http.StatusCreated || body["status"] != "pending" {
			t.Fatalf("invitation %d: %d %v", i, st, body)
		}
	}
	if sent := len(e.app.Outbox.Messages()) - before; sent != 2 {
		t.Fatalf("%d invitation mails, cap 2 per organization", sent)
	}
}

// Texts go only to allowed prefixes, and within the caps per number.
func TestSMSLimitsAndAllowedPrefixes(t *testing.T) {
	tw := &twilio{}
	srv := httptest.NewServer(tw)
	defer srv.Close()
	e := newEnv(t, "memory", func(c *Config) {
		c.Notify.SMS = SMSConfig{Type: "twilio", Twilio: notify.TwilioConfig{AccountSID: "ACtest", AuthToken: "twilio-token",
			From: "+15550000000", BaseURL: srv.URL}}
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 10, PerIP: 100, SMSPerDestination: 2, SMSPerPrefix: 100, SMSAllowedPrefixes: []string{"+41"}}
	})
	b := e.browser()
	page := b.accountSignIn(userEmail, userPassword)
	resp, _ := b.fill(page, "/account/phone", map[string]string{"phone": "+19005550123", "password": userPassword})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a premium-rate number outside the allow-list: %d", resp.StatusCode)
	}
	if tw.count() != 0 {
		t.Fatal("a text went to a number outside the allow-list")
	}
	statuses := []int{}
	for range 3 {
		_, page = b.get("/account")
		resp, _ := b.fill(page, "/account/phone", map[string]string{"phone": "+41791234567", "password": userPassword})
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != http.StatusTooManyRequests || tw.count() != 2 {
		t.Fatalf("per-number cap 2: statuses %v, %d texts", statuses, tw.count())
	}
}
