package login_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The credentials POST answers 303 (never 307), and every page carries the
// security headers (CHECKS 12, 13).
func TestSignInAnswers303AndPagesCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	b := e.Browser()
	resp, page := b.Authorize(e.AuthURL(nil))
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP: %q", csp)
	}
	if strings.Contains(page, "http://") && !strings.Contains(page, e.Issuer) && strings.Contains(page, "<script") {
		t.Error("page loads third-party assets or scripts")
	}
	resp, _ = b.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login POST answered %d, want 303", resp.StatusCode)
	}
}
