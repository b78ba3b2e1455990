package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/optibid/idp/login/notify"
	adminapi "github.com/optibid/idp/manage/api"
)

// invitationMailer writes the invitation email: a link to the
// application's accept page when one is configured, else the code.
func invitationMailer(sender notify.EmailSender, product, acceptURL string) func(context.Context, adminapi.Invitation) error {
	return func(ctx context.Context, inv adminapi.Invitation) error {
		how := "Sign in to " + product + " and enter this invitation code:\n\n  " + inv.Token
		if acceptURL != "" {
			u, err := url.Parse(acceptURL)
			if err != nil {
				return fmt.Errorf("invitation url: %w", err)
			}
			q := u.Query()
			q.Set("invitation", inv.Token)
			q.Set("organization", inv.OrgSlug)
			u.RawQuery = q.Encode()
			how = "Accept it here:\n\n  " + u.String()
		}
		by := inv.InvitedBy
		if by == "" {
			by = "An administrator"
		}
		text := fmt.Sprintf("%s invited you to join %s on %s as %s.\n\n%s\n\nThe invitation can be used once, by %s, until %s.\nIf you did not expect it, ignore this email.\n",
			by, inv.OrgName, product, inv.Role, how, inv.To, inv.ExpiresAt.Format("2 January 2006 15:04 MST"))
		err := sender.SendEmail(ctx, notify.Email{To: inv.To, Subject: "Join " + inv.OrgName + " on " + product, Text: text, Org: inv.OrgSlug})
		if errors.Is(err, notify.ErrLimited) {
			// The invitation stands and the answer is the same; the mail is
			// not sent past the organization's or recipient's cap.
			slog.WarnContext(ctx, "invitation mail over the send limit; not sent", "org", inv.OrgSlug)
			return nil
		}
		return err
	}
}
