package login_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The sign-in speaks German when the application asks (ui_locales), when
// the browser prefers it, or when the person chose it on a page; discovery
// says which languages there are.
func TestSignInInGerman(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	german := func(page string) bool {
		return strings.Contains(page, `<html lang="de">`) && strings.Contains(page, "Anmelden") && strings.Contains(page, "Passwort vergessen?")
	}
	if _, page := e.Browser().Authorize(e.AuthURL(map[string]string{"ui_locales": "de-CH en"})); !german(page) {
		t.Fatalf("ui_locales=de: %.800s", page)
	}
	if _, page := e.Browser().Authorize(e.AuthURL(nil)); german(page) || !strings.Contains(page, `<html lang="en">`) {
		t.Fatal("English by default")
	}
	b := e.Browser()
	req, _ := http.NewRequest(http.MethodGet, e.AuthURL(nil), nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.8")
	resp, _ := b.Do(req)
	req, _ = http.NewRequest(http.MethodGet, e.Issuer+resp.Header.Get("Location"), nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.8")
	if _, page := b.Do(req); !german(page) {
		t.Fatalf("Accept-Language de: %.500s", page)
	}
	// The person's choice is kept and wins over the browser's.
	c := e.Browser()
	resp, _ = c.Get("/lang/de?back=/forgot")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/forgot" {
		t.Fatalf("choose German: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := c.Get("/forgot"); !strings.Contains(page, "Passwort zurücksetzen") {
		t.Fatalf("after choosing German: %.500s", page)
	}
	for _, back := range []string{"//evil.example/x", "https://evil.example", "/\\evil.example"} {
		if resp, _ := c.Get("/lang/en?back=" + back); resp.Header.Get("Location") != "/account" {
			t.Fatalf("back=%q went to %s", back, resp.Header.Get("Location"))
		}
	}
	if resp, _ := c.Get("/lang/xx"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown language: %d", resp.StatusCode)
	}
	if _, body := e.Browser().Get("/.well-known/openid-configuration"); !strings.Contains(body, `"ui_locales_supported":["en","de"]`) {
		t.Fatalf("discovery: %s", body)
	}
}

// Dates are written as the page's language writes them.
func TestDatesPerLanguage(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	b.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
	_, en := b.Get("/account")
	b.Get("/lang/de?back=/account")
	_, de := b.Get("/account")
	if !regexp.MustCompile(`\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}`).MatchString(en) {
		t.Fatalf("English dates: %.300s", en)
	}
	if !regexp.MustCompile(`\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}`).MatchString(de) || !strings.Contains(de, "Ihr Konto") {
		t.Fatalf("German dates: %.300s", de)
	}
}
