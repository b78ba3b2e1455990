package httpx_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/optibid/idp/internal/httpx"
)

func TestUserAgentIsStorable(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", "a\xff\xfeb\x00c"+strings.Repeat("é", 200))
	ua := httpx.UserAgent(r)
	if !utf8.ValidString(ua) || strings.ContainsRune(ua, 0) || len(ua) > 256 {
		t.Fatalf("stored user agent %q", ua)
	}
}
