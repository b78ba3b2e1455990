package login

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/login/web"
	"github.com/optibid/idp/storage"
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

// Events are named in plain words, every one of them translated, and a
// user agent becomes a short device description.
func TestPlainWords(t *testing.T) {
	tpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for typ, words := range eventWords {
		for _, lang := range web.Languages[1:] {
			if !tpl.Translator().Has(lang.String(), words) {
				t.Errorf("%s lacks the words for %s: %q", lang, typ, words)
			}
		}
	}
	if eventPhrase("totp_enrollment_started") != "Authenticator app set-up started" || eventPhrase("something_new") != "Other account activity" {
		t.Fatal("event phrases")
	}
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36":                         "Chrome · Windows",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0":                                                                  "Firefox · Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1": "Safari · iPhone",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0":         "Edge · macOS",
		"": "",
	} {
		if got := device(ua); got != want {
			t.Errorf("device(%.40q) = %q, want %q", ua, got, want)
		}
	}
}

// A company sign-in is kept when it is the only way in.
func TestOnlyWayIn(t *testing.T) {
	for _, c := range []struct {
		pw            bool
		passkeys, ids int
		want          bool
	}{{false, 0, 1, true}, {true, 0, 1, false}, {false, 1, 1, false}, {false, 0, 2, false}} {
		if got := onlyWayIn(c.pw, c.passkeys, c.ids); got != c.want {
			t.Errorf("onlyWayIn(%v, %d, %d) = %v", c.pw, c.passkeys, c.ids, got)
		}
	}
}

// A scope whose API the request did not name is described by the one API
// that defines it.
func TestDescribeScopeWithoutResource(t *testing.T) {
	h := &Handler{Deps: Deps{APIsWithScope: func(scope string) []storage.API {
		if scope == "reports:read" {
			return []storage.API{{Name: "Reports", Scopes: []storage.APIScope{{Name: "reports:read", Description: "See reports"}}}}
		}
		return nil
	}}}
	if got := h.describeScope("reports:read", nil); got.Text != "{{.API}}: {{.Description}}" || got.Data["API"] != "Reports" || got.Data["Description"] != "See reports" {
		t.Fatalf("described as %q", got)
	}
	if got := h.describeScope("other:thing", nil); got.Text != "Use the “{{.Scope}}” permission" || got.Data["Scope"] != "other:thing" {
		t.Fatalf("unknown scope: %q", got)
	}
}

// The standard scopes' words, the device names and the backup-code file's
// heading are translated (pages and the download pass them through the
// catalogue).
func TestScopeAndDeviceWordsTranslated(t *testing.T) {
	tr, err := web.NewTranslator()
	if err != nil {
		t.Fatal(err)
	}
	words := []string{"a program", backupCodesText, passkeyDefaultName}
	for _, w := range scopeText {
		words = append(words, w)
	}
	for _, w := range words {
		if !tr.Has("de", w) {
			t.Errorf("de lacks %q", w)
		}
	}
}
