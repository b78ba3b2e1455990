package web_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/optibid/idp/login/web"
)

// messageRE finds the messages of templates: {{t "…"}} or {{t `…`}}.
var messageRE = regexp.MustCompile("\\{\\{t (\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)")

// templateMessages lists every message the built-in templates show.
func templateMessages(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("templates/*.html")
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range messageRE.FindAllStringSubmatch(string(b), -1) {
			s := m[1]
			if strings.HasPrefix(s, "`") {
				s = strings.Trim(s, "`")
			} else if u, err := strconv.Unquote(s); err == nil {
				s = u
			}
			out = append(out, s)
		}
	}
	return out
}

// bareTextRE finds text a template shows without translating it: words
// between tags, outside actions.
var (
	tActionRE = regexp.MustCompile("\\{\\{t (\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)[^}]*\\}\\}")
	actionRE  = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	scriptRE  = regexp.MustCompile(`(?s)<script.*?</script>`)
	tagRE     = regexp.MustCompile(`(?s)<[^>]*>`)
)

// Every message of every template has a translation in every language,
// and no template shows words that do not go through the translator
// (product names and other words that are the same in every language are
// listed).
func TestTranslationsComplete(t *testing.T) {
	tr, err := web.NewTranslator()
	if err != nil {
		t.Fatal(err)
	}
	msgs := templateMessages(t)
	if len(msgs) < 100 {
		t.Fatalf("only %d messages found: is the pattern right?", len(msgs))
	}
	for _, lang := range web.Languages[1:] {
		for _, m := range msgs {
			if !tr.Has(lang.String(), m) {
				t.Errorf("%s lacks %q", lang, m)
			}
		}
	}
	same := map[string]bool{"OptiBid": true, "Identity": true, "English": true, "Deutsch": true, "UTC": true, "·": true}
	files, _ := filepath.Glob("templates/*.html")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		s := tActionRE.ReplaceAllString(string(b), " ")
		s = scriptRE.ReplaceAllString(actionRE.ReplaceAllString(s, " "), " ")
		for _, chunk := range strings.Split(tagRE.ReplaceAllString(s, "\n"), "\n") {
			for _, word := range strings.Fields(chunk) {
				w := strings.Trim(word, ".,:;·◆()")
				if regexp.MustCompile(`[A-Za-z]{2}`).MatchString(w) && !same[w] {
					t.Errorf("%s shows %q without translating it", f, chunk)
					break
				}
			}
		}
	}
}

// The language comes from the sign-in's ui_locales, then the person's
// choice (cookie), then Accept-Language; English otherwise.
func TestLanguageChoice(t *testing.T) {
	tpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	page := func(r *http.Request) string {
		rec := httptest.NewRecorder()
		tpl.Write(rec, r, 200, "forgot", map[string]string{"CSRF": "x"})
		return rec.Body.String()
	}
	req := func(accept, cookie string, ui []string) *http.Request {
		r := httptest.NewRequest("GET", "/forgot", nil)
		if accept != "" {
			r.Header.Set("Accept-Language", accept)
		}
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: web.LangCookie, Value: cookie})
		}
		if ui != nil {
			r = r.WithContext(web.WithLanguages(r.Context(), ui))
		}
		return r
	}
	for name, c := range map[string]struct {
		r    *http.Request
		want string
	}{
		"default":            {req("", "", nil), "en"},
		"browser":            {req("de-DE,de;q=0.9,en;q=0.5", "", nil), "de"},
		"unknown language":   {req("fr-FR", "", nil), "en"},
		"cookie over header": {req("de-DE", "en", nil), "en"},
		"ui_locales first":   {req("en", "en", []string{"de"}), "de"},
		"bogus cookie":       {req("de", "xx-!!", nil), "de"},
	} {
		p := page(c.r)
		if !strings.Contains(p, `<html lang="`+c.want+`">`) {
			t.Errorf("%s: want %s: %.120s", name, c.want, p)
		}
	}
	if p := page(req("de", "", nil)); !strings.Contains(p, "Passwort zurücksetzen") || !strings.Contains(p, `href="/lang/en?back=%2fforgot"`) {
		t.Fatalf("German page: %.1500s", p)
	}
}

// codeMessageRE finds messages the sign-in code hands to pages (errors,
// notices, titles, and message constants); ones built by concatenation (with an address in
// them) are not caught and stay English.
var codeMessageRE = regexp.MustCompile(`(?:(?:Error|Message|Title|LinkText|Reason|Notice|NextText|Text|Error, d\.ErrorData)\s*[:=]\s*|Error(?:Next)?\(w, r, [^,]+, |again\([^,]+, |http\.Status\w+,\s*|(?m:^(?:const |\t)\w+\s*=\s*))"([A-Z{][^"]*)"(\s*\+)?`)

// Every message the sign-in code shows (not built by concatenation) has
// a translation.
func TestCodeMessagesTranslated(t *testing.T) {
	tr, err := web.NewTranslator()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../*.go")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range codeMessageRE.FindAllStringSubmatch(string(b), -1) {
			if m[2] != "" {
				continue // concatenated
			}
			n++
			for _, lang := range web.Languages[1:] {
				if !tr.Has(lang.String(), m[1]) {
					t.Errorf("%s: %s lacks %q", f, lang, m[1])
				}
			}
		}
	}
	if n < 40 {
		t.Fatalf("only %d messages found in the sign-in code: is the pattern right?", n)
	}
}

// Text built from input is shown as it is, never run as a template.
func TestMessagesFromInputAreNotTemplates(t *testing.T) {
	tr, err := web.NewTranslator()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "de"} {
		in := `We sent a message to {{printf "%0999999d" 1}}@example.com.`
		if got := tr.T(lang, in); got != in {
			t.Fatalf("%s: input ran as a template: %.80q", lang, got)
		}
	}
	if got := tr.T("de", "Signed in as {{.Email}}.", map[string]string{"Email": "{{.Email}}"}); got != "Angemeldet als {{.Email}}." {
		t.Fatalf("placeholder data re-run: %q", got)
	}
}
