package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/optibid/idp/internal/httpx"
	"github.com/prometheus/client_golang/prometheus"
)

func TestUserAgentIsStorable(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", "a\xff\xfeb\x00c"+strings.Repeat("é", 200))
	ua := httpx.UserAgent(r)
	if !utf8.ValidString(ua) || strings.ContainsRune(ua, 0) || len(ua) > 256 {
		t.Fatalf("stored user agent %q", ua)
	}
}

// A handler behind the edge middleware can flush its answer to the
// connection (the token endpoint learns whether a code's answer went out).
func TestMiddlewareLetsHandlersFlush(t *testing.T) {
	var flushErr error
	h := httpx.Middleware(httpx.NewMetrics(prometheus.NewRegistry()), false, time.Second, httpx.TrustedProxies{})(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("{}"))
			flushErr = http.NewResponseController(w).Flush()
		}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/oauth/token", nil))
	if flushErr != nil || !rec.Flushed {
		t.Fatalf("flush through the middleware: %v (flushed %v)", flushErr, rec.Flushed)
	}
}
