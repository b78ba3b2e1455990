// Package notify sends email and SMS: over SMTP or the SendGrid v3 API for
// email, the Twilio REST API for SMS, and a development outbox that keeps
// messages in memory for the /dev/outbox page.
//
// Senders are small interfaces declared here, where every consumer (the
// account screens, the MFA challenge) finds them. Every network sender has
// bounded timeouts and at most two attempts, so a slow provider cannot pile
// up goroutines and a down one fails fast (the callers fail closed).
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Email is one message. Org names the organization it is sent for
// (invitations), which its send limit counts.
type Email struct {
	To, Subject, Text string
	Org               string
}

// SMS is one text message to an E.164 number.
type SMS struct {
	To, Body string
}

// EmailSender delivers email.
type EmailSender interface {
	SendEmail(ctx context.Context, m Email) error
}

// SMSSender delivers text messages.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// ErrRejected means the provider refused the message for good (bad address,
// bad credentials); retrying will not help.
var ErrRejected = errors.New("notify: message rejected")

// ErrUnavailable means the provider could not be reached or failed; the message
// was not sent.
var ErrUnavailable = errors.New("notify: provider unavailable")

// attempts is how often a transient failure is tried in all.
const attempts = 2

// retry runs send up to attempts times while it fails with ErrUnavailable.
func retry(ctx context.Context, send func(context.Context) error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		if err = send(ctx); err == nil || !errors.Is(err, ErrUnavailable) {
			return err
		}
	}
	return err
}

// httpClient is the client API senders use when none is injected.
func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// classify maps an HTTP response to a sender error.
func classify(provider string, resp *http.Response) error {
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("%w: %s answered %d", ErrUnavailable, provider, resp.StatusCode)
	default:
		return fmt.Errorf("%w: %s answered %d", ErrRejected, provider, resp.StatusCode)
	}
}
