package login

import (
	"net/http"
	"time"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/login/notify"
)

// mailText is one mail's subject and body, as message IDs (the English
// text) with {{.Name}}-style placeholders filled from the mail's data.
type mailText = i18n.Mail

// The mails of the sign-in screens. Each goes out in the language of the
// page that sent it; TestMailsTranslated keeps every language complete.
var (
	mailReset = mailText{Subject: "Reset your password",
		Body: "Someone asked to reset the password of your {{.Product}} account. Choose a new one within {{.Duration}}:\n\n{{.Link}}\n\nAll your sessions will be signed out. If it was not you, ignore this message: your password stays as it is."}
	mailVerify = mailText{Subject: "Confirm your email address",
		Body: "Hello {{.Name}},\n\nconfirm your email address for {{.Product}} by opening this link within {{.Duration}}:\n\n{{.Link}}\n\nIf you did not sign up, ignore this message."}
	mailExisting = mailText{Subject: "Someone tried to create an account with your email",
		Body: "Someone tried to create a new {{.Product}} account with this email address. You already have one.\n\nIf it was you, sign in or reset your password: {{.Link}}\nIf it was not you, you can ignore this message."}
	mailPasskeyAdded = mailText{Subject: "A passkey was added to your account",
		Body: "A passkey named “{{.Passkey}}” was added to your {{.Product}} account on {{.When}}.\n\nIf it was not you, reset your password and remove the passkey on your account page: {{.Link}}"}
	mailCode = mailText{Subject: "Your {{.Product}} verification code",
		Body: "{{.Code}} is your {{.Product}} verification code. It expires in {{.Duration}}. Never share it."}
)

// allMails lists them for the translation test.
var allMails = []mailText{mailReset, mailVerify, mailExisting, mailPasskeyAdded, mailCode, mailEmailChange, mailEmailChanged}

// compose fills m in the language of r's page.
func (h *Handler) compose(r *http.Request, m mailText, data map[string]any) (subject, body string) {
	tr := h.Templates.Translator()
	lang := tr.Pick(r)
	if data == nil {
		data = map[string]any{}
	}
	data["Product"] = h.cfg.ProductName
	if d, ok := data["Duration"].(time.Duration); ok {
		data["Duration"] = i18n.Duration(lang, d)
	}
	if t, ok := data["When"].(time.Time); ok {
		data["When"] = i18n.Date(lang, t, true) + " UTC"
	}
	return tr.Compose(lang, m, data)
}

// mail sends m to the address and logs a failure (the pages that trigger
// mails answer the same either way, so an outage reveals no account).
func (h *Handler) mail(r *http.Request, to string, m mailText, data map[string]any) {
	subject, body := h.compose(r, m, data)
	if err := h.Email.SendEmail(r.Context(), notify.Email{To: to, Subject: subject, Text: body}); err != nil {
		h.logWarn(r, "sending email failed", err)
	}
}
