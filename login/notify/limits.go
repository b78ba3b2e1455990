package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/optibid/idp/internal/httpx"
)

// ErrLimited means a send limit was reached (or SMS to the destination is not
// allowed); nothing was sent. Pages that must not reveal it answer as if
// the message had gone.
var ErrLimited = errors.New("notify: send limit reached")

// Limits are the hourly caps on messages, shared by every replica through
// the store. Zero means no cap of that kind.
type Limits struct {
	// EmailPerRecipient caps mails to one address.
	EmailPerRecipient int `yaml:"email_per_recipient"`
	// PerIP caps messages (mail and SMS) caused from one client address
	// (for IPv6, one /64: a client may use any address of its block).
	PerIP int `yaml:"per_ip"`
	// PerOrganization caps messages sent on behalf of one organization
	// (invitations).
	PerOrganization int `yaml:"per_organization"`
	// SMSPerDestination caps texts to one number.
	SMSPerDestination int `yaml:"sms_per_destination"`
	// SMSPerPrefix caps texts to one country prefix (the first three
	// characters of the E.164 number, such as +41).
	SMSPerPrefix int `yaml:"sms_per_prefix"`
	// SMSAllowedPrefixes, when set, are the only prefixes texts go to
	// (premium-rate ranges are then out of reach).
	SMSAllowedPrefixes []string `yaml:"sms_allowed_prefixes"`
}

// DefaultLimits are the defaults of Limits.
func DefaultLimits() Limits {
	return Limits{EmailPerRecipient: 10, PerIP: 60, PerOrganization: 200, SMSPerDestination: 5, SMSPerPrefix: 500}
}

// Counter counts events per key in fixed windows (storage.RateLimits).
type Counter interface {
	Hit(ctx context.Context, key string, windowStart, expiresAt time.Time) (int, error)
}

// Limiter wraps senders with the limits: every message is counted against
// its recipient (or number and prefix), the client address and the
// organization that cause it, and none goes out past a cap.
type Limiter struct {
	Limits  Limits
	Counter Counter
	Now     func() time.Time
}

// Email wraps s; nil stays nil.
func (l *Limiter) Email(s EmailSender) EmailSender {
	if s == nil {
		return nil
	}
	return limitedEmail{l, s}
}

// SMS wraps s; nil stays nil.
func (l *Limiter) SMS(s SMSSender) SMSSender {
	if s == nil {
		return nil
	}
	return limitedSMS{l, s}
}

// SMSAllowed reports whether texts may go to the number at all.
func (l *Limiter) SMSAllowed(to string) bool {
	if len(l.Limits.SMSAllowedPrefixes) == 0 {
		return true
	}
	for _, p := range l.Limits.SMSAllowedPrefixes {
		if strings.HasPrefix(to, p) {
			return true
		}
	}
	return false
}

// admit counts the message against the origin's caps (client address,
// organization) first, and only when those let it through against the
// recipient's: a flood refused at its origin does not use up a victim's
// quota. It fails with ErrLimited when a cap is over.
func (l *Limiter) admit(ctx context.Context, origin, recipient map[string]int) error {
	for _, keys := range []map[string]int{origin, recipient} {
		if err := l.hit(ctx, keys); err != nil {
			return err
		}
	}
	return nil
}

func (l *Limiter) hit(ctx context.Context, keys map[string]int) error {
	start := l.Now().UTC().Truncate(time.Hour)
	over := false
	for key, limit := range keys {
		if limit <= 0 {
			continue
		}
		n, err := l.Counter.Hit(ctx, key, start, start.Add(time.Hour))
		if err != nil {
			return fmt.Errorf("notify: limits: %w", err)
		}
		over = over || n > limit
	}
	if over {
		return ErrLimited
	}
	return nil
}

// originKeys are the caps of the client address of the request that
// causes the message, and of the organization it is sent for.
func (l *Limiter) originKeys(ctx context.Context, org string) map[string]int {
	keys := map[string]int{}
	if ip := httpx.ClientIP(ctx); ip != "" {
		keys["ip:"+httpx.AddressBlock(ip)] = l.Limits.PerIP
	}
	if org != "" {
		keys["org:"+org] = l.Limits.PerOrganization
	}
	return keys
}

type limitedEmail struct {
	l    *Limiter
	next EmailSender
}

func (e limitedEmail) SendEmail(ctx context.Context, m Email) error {
	if err := e.l.admit(ctx, e.l.originKeys(ctx, m.Org), map[string]int{"email:" + strings.ToLower(m.To): e.l.Limits.EmailPerRecipient}); err != nil {
		return err
	}
	return e.next.SendEmail(ctx, m)
}

type limitedSMS struct {
	l    *Limiter
	next SMSSender
}

func (s limitedSMS) SendSMS(ctx context.Context, m SMS) error {
	if !s.l.SMSAllowed(m.To) {
		return ErrLimited
	}
	prefix := m.To
	if len(prefix) > 3 {
		prefix = prefix[:3]
	}
	if err := s.l.admit(ctx, s.l.originKeys(ctx, ""), map[string]int{"sms:" + m.To: s.l.Limits.SMSPerDestination,
		"sms-prefix:" + prefix: s.l.Limits.SMSPerPrefix}); err != nil {
		return err
	}
	return s.next.SendSMS(ctx, m)
}
