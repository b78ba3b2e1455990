package login_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/notify"
)

// outboxTo counts the mails sent to addr.
func outboxTo(e *apptest.Env, addr string) int {
	n := 0
	for _, m := range e.App.Outbox.Messages() {
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
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) {
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 3, PerIP: 8, PerOrganization: 2, SMSPerDestination: 2, SMSPerPrefix: 3}
	})
	forgot := func(email string) string {
		b := e.Browser()
		_, page := b.Get("/forgot")
		resp, body := b.Fill(page, "/forgot", map[string]string{"email": email})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("forgot: %d", resp.StatusCode)
		}
		return strings.ReplaceAll(strings.Split(body, "Reference")[0], email, "EMAIL")
	}
	first := forgot(apptest.UserEmail)
	for range 5 {
		if got := forgot(apptest.UserEmail); got != first {
			t.Fatal("the answer changed once the recipient's cap was hit")
		}
	}
	if n := outboxTo(e, apptest.UserEmail); n != 3 {
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
	if n := outboxTo(e, "bob@example.com"); n != 1 {
		t.Fatalf("bob's mail: %d", n)
	}
	total := len(e.App.Outbox.Messages())
	if total > 8 {
		t.Fatalf("%d mails from one client address, cap 8", total)
	}
}

// Texts go only to allowed prefixes, and within the caps per number.
func TestSMSLimitsAndAllowedPrefixes(t *testing.T) {
	t.Parallel()
	tw := &twilio{}
	srv := httptest.NewServer(tw)
	defer srv.Close()
	e := apptest.New(t, "memory", func(c *app.Config) {
		c.Notify.SMS = app.SMSConfig{Type: "twilio", Twilio: notify.TwilioConfig{AccountSID: "ACtest", AuthToken: "twilio-token",
			From: "+15550000000", BaseURL: srv.URL}}
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 10, PerIP: 100, SMSPerDestination: 2, SMSPerPrefix: 100, SMSAllowedPrefixes: []string{"+41"}}
	})
	b := e.Browser()
	page := b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	resp, _ := b.Fill(page, "/account/phone", map[string]string{"phone": "+19005550123", "password": apptest.UserPassword})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a premium-rate number outside the allow-list: %d", resp.StatusCode)
	}
	if tw.count() != 0 {
		t.Fatal("a text went to a number outside the allow-list")
	}
	statuses := []int{}
	for range 3 {
		_, page = b.Get("/account")
		resp, _ := b.Fill(page, "/account/phone", map[string]string{"phone": "+41791234567", "password": apptest.UserPassword})
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != http.StatusTooManyRequests || tw.count() != 2 {
		t.Fatalf("per-number cap 2: statuses %v, %d texts", statuses, tw.count())
	}
}

// rotatingV6 sends each request from another address of one IPv6 /64, as
// a client that owns the block can, through a trusted balancer.
type rotatingV6 struct{ n *atomic.Int32 }

func (f rotatingV6) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", f.n.Add(1)))
	return http.DefaultTransport.RoundTrip(r)
}

// The per-address cap counts an IPv6 client's whole /64: changing the
// address within it does not buy more mail (review finding).
func TestMailCapPerAddressHoldsAcrossAnIPv6Block(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
		c.Notify.Limits = notify.Limits{EmailPerRecipient: 100, PerIP: 3, PerOrganization: 100, SMSPerDestination: 2, SMSPerPrefix: 3}
	})
	var n atomic.Int32
	for range 8 {
		b := e.Browser()
		b.Client().Transport = rotatingV6{&n}
		_, page := b.Get("/forgot")
		if resp, _ := b.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail}); resp.StatusCode != http.StatusOK {
			t.Fatalf("forgot: %d", resp.StatusCode)
		}
	}
	if got := outboxTo(e, apptest.UserEmail); got != 3 {
		t.Fatalf("%d mails from one IPv6 /64 through 16 addresses, cap 3", got)
	}
}
