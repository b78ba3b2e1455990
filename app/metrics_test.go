package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// Business metrics: sign-ins by method and result, second factors by
// factor, tokens by grant and API, per-route RED series.
func TestBusinessMetrics(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	code, verifier := e.CodeFor(e.Browser(), nil)
	if resp, body := e.Exchange(code, verifier); resp.StatusCode != 200 {
		t.Fatalf("exchange: %d %s", resp.StatusCode, body)
	}
	b := e.Browser()
	resp, page := b.Authorize(e.AuthURL(nil))
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	b.SubmitLogin(page, apptest.UserEmail, "wrong password")
	_, body := e.Browser().Get("/metrics")
	for _, want := range []string{
		`optibid_logins_total{method="password",result="success"}`,
		`optibid_logins_total{method="password",result="bad_password"}`,
		`optibid_tokens_issued_total{api="client",grant="authorization_code"}`,
		`optibid_http_requests_total{method="POST",route="/oauth/token",status="200"}`,
		`optibid_http_request_duration_seconds_bucket{method="GET",route="/authorize"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// With http.metrics_addr the public router has no /metrics; the metrics
// handler serves them on its own listener.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.HTTP.MetricsAddr = "127.0.0.1:0" })
	if resp, _ := e.Browser().Get("/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("public /metrics: %d, want 404", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	e.App.Metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), "optibid_http_requests_total") {
		t.Fatalf("metrics handler: %d", rec.Code)
	}
}
