package registration_test

import (
	"testing"

	"github.com/optibid/idp/manage/registration"
)

// Dangerous redirect URIs cannot even be registered (CHECKS 5).
func TestDangerousRedirectURIsCannotBeRegistered(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{"JaVaScRiPt:alert(1)", "javascript:alert(1)", "data:text/html,x", "http://rp.example/cb",
		"https://rp.example/cb#frag", "https://*.rp.example/cb", "https://user@rp.example/cb", "vbscript:x", "file:///etc/passwd",
		"myapp:/cb", "https://rp.example/c b", "relative/cb"} {
		if err := registration.ValidateRedirectURI(uri); err == nil {
			t.Errorf("%q accepted", uri)
		}
	}
	for _, uri := range []string{"https://rp.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost/cb", "com.example.app:/cb"} {
		if err := registration.ValidateRedirectURI(uri); err != nil {
			t.Errorf("%q refused: %v", uri, err)
		}
	}
}
