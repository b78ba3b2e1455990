package login_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/notify"
)

// twilio is an in-process server speaking Twilio's Messages API.
type twilio struct {
	mu   sync.Mutex
	sent []string // bodies
	down bool
}

func (tw *twilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	if r.URL.Path != "/2010-04-01/Accounts/ACtest/Messages.json" || user != "ACtest" || pass != "twilio-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.ParseForm()
	tw.sent = append(tw.sent, r.PostForm.Get("To")+" "+r.PostForm.Get("Body"))
	w.WriteHeader(http.StatusCreated)
}

var smsCodeRE = regexp.MustCompile(`(\d{6}) is your`)

func (tw *twilio) lastCode(t *testing.T) string {
	t.Helper()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if len(tw.sent) == 0 {
		t.Fatal("no SMS sent")
	}
	m := smsCodeRE.FindStringSubmatch(tw.sent[len(tw.sent)-1])
	if m == nil {
		t.Fatalf("no code in %q", tw.sent[len(tw.sent)-1])
	}
	return m[1]
}

// Phone verified from the account page, then an SMS login with the code
// taken from the Twilio server; codes are bound to their transaction; a
// down provider fails closed (CHECKS 53, F9).
func TestSMSLogin(t *testing.T) {
	t.Parallel()
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			tw := &twilio{}
			srv := httptest.NewServer(tw)
			defer srv.Close()
			e := apptest.New(t, backend, func(c *app.Config) {
				c.Notify.SMS = app.SMSConfig{Type: "twilio", Twilio: notify.TwilioConfig{AccountSID: "ACtest", AuthToken: "twilio-token",
					From: "+15550000000", BaseURL: srv.URL}}
			})
			b := e.Browser()
			page := b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			resp, page := b.Fill(page, "/account/phone", map[string]string{"phone": "+41791234567", "password": "wrong password!"})
			if resp.StatusCode != 401 {
				t.Fatal("phone change without the password")
			}
			_, page = b.Fill(page, "/account/phone", map[string]string{"phone": "+41 79 123 45 67", "password": apptest.UserPassword})
			if !strings.Contains(page, "Code we texted") {
				t.Fatalf("no phone challenge: %.300s", page)
			}
			resp, page = b.Fill(page, "/account/phone/verify", map[string]string{"code": tw.lastCode(t)})
			if resp.StatusCode != 200 || !strings.Contains(page, "Your phone is verified") {
				t.Fatalf("verify phone: %d", resp.StatusCode)
			}

			// Transaction A asks for a code; transaction B asks for its own.
			a := e.Browser()
			pageA, verifierA := toMFA(e, a, nil)
			_, pageA = a.Fill(pageA, "/login/mfa/send", map[string]string{"channel": "sms"})
			codeA := tw.lastCode(t)
			bb := e.Browser()
			pageB, _ := toMFA(e, bb, nil)
			_, pageB = bb.Fill(pageB, "/login/mfa/send", map[string]string{"channel": "sms"})
			if resp, _ := bb.Fill(pageB, "/login/mfa", map[string]string{"code": codeA}); resp.StatusCode != 401 {
				t.Fatal("code of transaction A accepted in B")
			}
			// A's challenge cannot be replayed in B either.
			f := apptest.Hidden(pageB)
			f.Set("challenge", apptest.Hidden(pageA).Get("challenge"))
			f.Set("code", codeA)
			if resp, _ := bb.Post("/login/mfa", f); resp.StatusCode != 401 {
				t.Fatal("challenge of transaction A accepted in B")
			}
			resp, body := a.Follow(a.Fill(pageA, "/login/mfa", map[string]string{"code": codeA}))
			tok := e.TokensFrom(a.ClientRedirect(resp, body), verifierA)
			if amr := apptest.Claims(t, tok.IDToken)["amr"].([]any); len(amr) != 3 || amr[1] != "sms" {
				t.Fatalf("amr %v", amr)
			}
			// A provider outage fails closed with other methods offered.
			tw.mu.Lock()
			tw.down = true
			tw.mu.Unlock()
			c := e.Browser()
			pageC, _ := toMFA(e, c, nil)
			resp, body = c.Fill(pageC, "/login/mfa/send", map[string]string{"channel": "sms"})
			if resp.StatusCode != 503 || !strings.Contains(body, "Try another method") || strings.Contains(resp.Header.Get("Location"), "code=") {
				t.Fatalf("SMS outage: %d", resp.StatusCode)
			}
			// Send limit per user (the outage's attempt counts too).
			limited := false
			for range 6 {
				c := e.Browser()
				p, _ := toMFA(e, c, nil)
				if resp, _ := c.Fill(p, "/login/mfa/send", map[string]string{"channel": "sms"}); resp.StatusCode == 429 {
					limited = true
					break
				}
			}
			if !limited {
				t.Fatal("no send limit")
			}
		})
	}
}

// Email codes never stand in for an authenticator: after a password
// reset (mailbox access only), a user with TOTP is not offered an emailed
// code, and asking for one is refused without sending anything.
func TestEmailCodesNeverStandInForAnAuthenticator(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	enrollTOTP(e, e.Browser()) // ada has TOTP; her email is verified by bootstrap
	b := e.Browser()
	page, _ := toMFA(e, b, nil)
	if strings.Contains(page, `value="email"`) {
		t.Fatalf("an emailed code offered beside the authenticator: %.500s", page)
	}
	f := apptest.Hidden(page)
	f.Set("channel", "email")
	if resp, _ := b.Post("/login/mfa/send", f); resp.StatusCode != 400 {
		t.Fatalf("email code sent to a TOTP user: %d", resp.StatusCode)
	}
	for _, m := range e.App.Outbox.Messages() {
		if strings.Contains(m.Subject, "verification code") {
			t.Fatalf("a code was mailed: %s", m.Subject)
		}
	}
}

func (tw *twilio) count() int { tw.mu.Lock(); defer tw.mu.Unlock(); return len(tw.sent) }
