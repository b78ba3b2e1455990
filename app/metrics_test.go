package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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

// The Grafana dashboard in deploy/ queries only series the provider
// exports: every optibid_ metric it names is on /metrics once there has
// been traffic, and every panel has a query.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "optibid-idp.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	// Traffic that touches every series: a sign-in, a wrong password, a
	// second factor, a code replay, a federation attempt on an unknown
	// connection, a lockout is not needed (its counter is always there).
	e := apptest.New(t, "memory")
	code, verifier := e.CodeFor(e.Browser(), nil)
	e.Exchange(code, verifier)
	e.Exchange(code, verifier) // replay
	_, body := e.Browser().Get("/metrics")
	names := regexp.MustCompile(`\boptibid_[a-z_]+\b`)
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range names.FindAllString(tg.Expr, -1) {
				if !strings.Contains(body, "# TYPE "+strings.TrimSuffix(m, "_bucket")+" ") && !strings.Contains(body, m+"{") {
					if !declaredInSource(t, m) {
						t.Errorf("panel %q queries %s, which the provider does not export", p.Title, m)
					}
				}
			}
		}
	}
}

// declaredInSource reports whether a Go file of the packages that define
// metrics names the series (one that has seen no traffic yet is not on
// /metrics).
func declaredInSource(t *testing.T, name string) bool {
	t.Helper()
	for _, dir := range []string{"login", "provider", "internal/httpx"} {
		files, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), `"`+name+`"`) {
				return true
			}
		}
	}
	return false
}
