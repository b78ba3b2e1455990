package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/login/notify"
)

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Hit(_ context.Context, key string, _, _ time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[key]++
	return c.n[key], nil
}

type sink struct{ sent int }

func (s *sink) SendEmail(context.Context, notify.Email) error { s.sent++; return nil }
func (s *sink) SendSMS(context.Context, notify.SMS) error     { s.sent++; return nil }

// A flood refused at its origin (the organization's cap here) does not
// use up the recipient's quota; the recipient's own cap holds; texts go
// only to allowed prefixes.
func TestLimiter(t *testing.T) {
	c := &counter{n: map[string]int{}}
	l := &notify.Limiter{Limits: notify.Limits{EmailPerRecipient: 2, PerOrganization: 1, SMSPerDestination: 1, SMSPerPrefix: 10,
		SMSAllowedPrefixes: []string{"+41"}}, Counter: c, Now: time.Now}
	s := &sink{}
	mail := l.Email(s)
	ctx := context.Background()
	if err := mail.SendEmail(ctx, notify.Email{To: "a@example.com", Org: "evil"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := mail.SendEmail(ctx, notify.Email{To: "victim@example.com", Org: "evil"}); !errors.Is(err, notify.ErrLimited) {
			t.Fatalf("over the organization's cap: %v", err)
		}
	}
	if c.n["email:victim@example.com"] != 0 {
		t.Fatalf("a refused flood used up the victim's quota: %d", c.n["email:victim@example.com"])
	}
	for i := range 3 {
		err := mail.SendEmail(ctx, notify.Email{To: "Victim@Example.com"})
		if (i < 2) != (err == nil) {
			t.Fatalf("recipient cap, mail %d: %v", i, err)
		}
	}
	sms := l.SMS(s)
	if err := sms.SendSMS(ctx, notify.SMS{To: "+19005550123"}); !errors.Is(err, notify.ErrLimited) {
		t.Fatalf("premium number outside the allow-list: %v", err)
	}
	if err := sms.SendSMS(ctx, notify.SMS{To: "+41791234567"}); err != nil {
		t.Fatal(err)
	}
	if err := sms.SendSMS(ctx, notify.SMS{To: "+41791234567"}); !errors.Is(err, notify.ErrLimited) {
		t.Fatalf("per-number cap: %v", err)
	}
	if s.sent != 4 {
		t.Fatalf("sent %d", s.sent)
	}
}
