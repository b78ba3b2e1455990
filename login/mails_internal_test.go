package login

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/login/web"
)

// Every mail has its subject and body in every language, and goes out in
// the language of the page that sent it, placeholders filled.
func TestMailsTranslated(t *testing.T) {
	tpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	tr := tpl.Translator()
	for _, m := range allMails {
		for _, lang := range web.Languages[1:] {
			for _, id := range []string{m.Subject, m.Body} {
				if !tr.Has(lang.String(), id) {
					t.Errorf("%s lacks the mail text %.60q", lang, id)
				}
			}
		}
	}
	h := &Handler{cfg: Config{ProductName: "OptiBid"}, Deps: Deps{Templates: tpl}}
	r := httptest.NewRequest("POST", "/forgot", nil)
	r.Header.Set("Accept-Language", "de")
	subject, body := h.compose(r, mailReset, map[string]any{"Duration": time.Hour, "Link": "https://id.example/reset?token=x"})
	if subject != "Passwort zurücksetzen" || !strings.Contains(body, "innerhalb von 1 Stunde") || !strings.Contains(body, "https://id.example/reset?token=x") {
		t.Fatalf("German reset mail: %q %q", subject, body)
	}
	r.Header.Set("Accept-Language", "en")
	if _, body := h.compose(r, mailCode, map[string]any{"Code": "123456", "Duration": 5 * time.Minute}); body != "123456 is your OptiBid verification code. It expires in 5 minutes. Never share it." {
		t.Fatalf("English code mail: %q", body)
	}
}
