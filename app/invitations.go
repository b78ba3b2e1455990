package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/optibid/idp/login/notify"
)

// mailer adapts the configured email sender to the management layer's
// Mailer. A message over the send limits is not sent and not an error:
// the change it announces stands and the answer is the same.
type mailer struct{ sender notify.EmailSender }

func (m mailer) Send(ctx context.Context, to, subject, text, org string) error {
	err := m.sender.SendEmail(ctx, notify.Email{To: to, Subject: subject, Text: text, Org: org})
	if errors.Is(err, notify.ErrLimited) {
		slog.WarnContext(ctx, "mail over the send limit; not sent", "org", org)
		return nil
	}
	return err
}
