package manage

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// Every mail the management layer sends has its subject, body and parts
// in every language (a missing German string fails here), and goes out in
// the invitation's language with its placeholders filled.
func TestMailsTranslated(t *testing.T) {
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, missing := range tr.Missing(mailInvitation) {
		t.Errorf("lacks the mail text %.80q", missing)
	}
	parts := append([]string{invitationByLink, invitationByCode, anAdministrator}, roles.All...)
	for _, lang := range i18n.Languages[1:] {
		for _, id := range parts {
			if !tr.Has(lang.String(), id) {
				t.Errorf("%s lacks the mail text %.80q", lang, id)
			}
		}
	}

	s := &Service{ProductName: "OptiBid", InvitationURL: "https://app.example/join", Translator: tr}
	org := storage.Organization{Slug: "acme", Name: "Acme GmbH"}
	inv := storage.Invitation{Email: "dora@example.de", Role: roles.Admin, Language: "de",
		ExpiresAt: time.Date(2026, 3, 4, 15, 4, 0, 0, time.UTC)}
	subject, body, err := s.invitationMail(inv, org, "Ada", "tok-123")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Ada hat Sie eingeladen, Acme GmbH auf OptiBid als Administrator/in beizutreten.",
		"Nehmen Sie sie hier an:", "https://app.example/join?organization=acme&token=tok-123", "bis 04.03.2026, 15:04 UTC", "dora@example.de"} {
		if !strings.Contains(body, want) {
			t.Errorf("German body lacks %q:\n%s", want, body)
		}
	}
	if subject != "Treten Sie Acme GmbH auf OptiBid bei" {
		t.Errorf("German subject: %q", subject)
	}
	// Without an accept page, the code; without an inviter's name, the
	// administration; in English by default.
	s.InvitationURL = ""
	_, body, _ = s.invitationMail(inv, org, "", "tok-123")
	if !strings.HasPrefix(body, "Die Administration hat Sie eingeladen") || !strings.Contains(body, "Einladungscode ein:\n\n  tok-123") {
		t.Errorf("German body with a code:\n%s", body)
	}
	inv.Language = ""
	subject, body, _ = (&Service{}).invitationMail(inv, org, "", "tok-123")
	if subject != "Join Acme GmbH on OptiBid" || !strings.HasPrefix(body, "An administrator invited you to join Acme GmbH on OptiBid as admin.") ||
		!strings.Contains(body, "until 4 Mar 2026, 15:04 UTC") {
		t.Errorf("English mail: %q\n%s", subject, body)
	}
}

// A language is one of the supported tags, named by its field otherwise.
func TestCheckLanguage(t *testing.T) {
	for _, ok := range []string{"en", "de"} {
		if err := CheckLanguage(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"fr", "de-DE", "", "EN", "{{.x}}"} {
		var v *ValidationError
		if err := CheckLanguage(bad); !errors.As(err, &v) || v.Field != "language" || !strings.Contains(v.Msg, "en, de") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
