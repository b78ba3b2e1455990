package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

func TestConsoleSignInAndOrgPages(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	resp, page := b.ConsoleSignIn(apptest.UserEmail, apptest.UserPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("console: %d %s %.2000s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	t.Logf("%s", page)
	for _, p := range []string{"", "/settings", "/domains", "/members", "/connections", "/clients", "/features", "/usage", "/audit"} {
		resp, page := b.Get("/console/orgs/acme" + p)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<h1>") {
			t.Fatalf("%s: %d %.2000s", p, resp.StatusCode, page)
		}
	}
}
