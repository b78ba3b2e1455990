package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// / and unknown paths: a page with a way on for a browser, JSON for an
// API client.
func TestLandingAndNotFound(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	get := func(path, accept string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, e.Issuer+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return e.Browser().Do(req)
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	if resp, page := get("/", browser); resp.StatusCode != 200 || !strings.Contains(page, `href="/account"`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("landing page: %d %.300s", resp.StatusCode, page)
	}
	if resp, body := get("/", "application/json"); resp.StatusCode != 200 || !strings.Contains(body, `"openid_configuration":"`+e.Issuer+`/.well-known/openid-configuration"`) {
		t.Fatalf("landing for an API client: %d %s", resp.StatusCode, body)
	}
	if resp, page := get("/no/such/page", browser); resp.StatusCode != 404 || !strings.Contains(page, "Page not found") ||
		!strings.Contains(page, `href="/account"`) || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("404 for a browser: %d %.300s", resp.StatusCode, page)
	}
	if resp, body := get("/no/such/page", ""); resp.StatusCode != 404 || strings.TrimSpace(body) != `{"error":"not_found"}` {
		t.Fatalf("404 for an API client: %d %s", resp.StatusCode, body)
	}
}
