package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// An unauthenticated caller must not be able to create metric series at
// will: the method label of the HTTP series takes only known methods
// (anything else is folded into one value), so random request methods
// do not grow /metrics without bound.
func TestHTTPMetricsMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	for i := range 20 {
		for _, path := range []string{"/no-such-path", "/authorize", "/healthz"} {
			req, _ := http.NewRequest(fmt.Sprintf("ATTACKER%02d", i), e.Issuer+path, nil)
			resp, err := e.Srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	_, body := e.Browser().Get("/metrics")
	if n := len(regexp.MustCompile(`method="ATTACKER\d+"`).FindAllString(body, -1)); n > 0 {
		t.Errorf("/metrics holds %d series labelled with caller-chosen methods (unbounded cardinality)", n)
	}
}

// Tracing: a caller's trace context is linked, never our parent, and a
// caller's baggage is not passed on to upstream identity providers.
// Not parallel: it installs the process's tracer provider and propagator
// (as telemetry.Setup does) while it runs.
func TestTracingDoesNotForwardCallerBaggageUpstream(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		_ = tp.Shutdown(context.Background())
	})

	var mu sync.Mutex
	var upstreamHeaders []http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamHeaders = append(upstreamHeaders, r.Header.Clone())
		mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(upstream.Close)

	e := apptest.New(t, "memory", func(c *app.Config) {
		c.Federation.Connections = []app.ConnectionConfig{{ID: "up", Type: "oidc", Name: "Upstream", Organization: "acme",
			Issuer: upstream.URL, ClientID: "down", ClientSecret: "fed-secret-0123456789abcdefghijklmnopq"}}
	})
	b := e.Browser()
	_, page := b.Authorize(e.AuthURL(map[string]string{"organization": "acme"}))
	id := apptest.Hidden(page).Get("id")
	if !strings.Contains(page, "/login/federated/up?id="+id) {
		t.Fatalf("no button for the connection: %.300s", page)
	}
	const attackerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+"/login/federated/up?id="+id, nil)
	req.Header.Set("traceparent", "00-"+attackerTrace+"-00f067aa0ba902b7-01")
	req.Header.Set("baggage", "tenant=evil-corp,injected=attacker-chosen-value")
	resp, _ := b.Do(req)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("federated start with a down upstream: %d, want 502", resp.StatusCode)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(upstreamHeaders) == 0 {
		t.Fatal("the upstream was not called")
	}
	for _, h := range upstreamHeaders {
		if bg := h.Get("Baggage"); bg != "" {
			t.Errorf("the caller's baggage reached the upstream IdP: baggage: %s", bg)
		}
		if tp := h.Get("Traceparent"); strings.Contains(tp, attackerTrace) {
			t.Errorf("the caller's trace ID reached the upstream IdP: traceparent: %s", tp)
		}
	}
	// What held: our request span is a new root that only links the
	// caller's context.
	for _, s := range sr.Ended() {
		if s.SpanContext().TraceID().String() == attackerTrace {
			t.Errorf("span %q joined the caller's trace", s.Name())
		}
	}
}

// reviewBuffer is a strings.Builder safe for a writer and a reader.
type reviewBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (r *reviewBuffer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.Write(p)
}

func (r *reviewBuffer) String() string { r.mu.Lock(); defer r.mu.Unlock(); return r.b.String() }

// Outside dev_mode, serve prints no secret to stderr (the process's log
// stream). The chart allows storage.type memory with one replica and
// fills bootstrap secrets from a Kubernetes Secret through ${VAR}; the
// memory-store banner must not copy them into the pod's log.
func TestBannerPrintsNoSecretOutsideDevMode(t *testing.T) {
	const adminPW = "review-admin-password-from-a-k8s-secret"
	const clientSecret = "review-client-secret-from-a-k8s-secret-0123456789"
	t.Setenv("REVIEW_ADMIN_PW", adminPW)
	t.Setenv("REVIEW_CLIENT_SECRET", clientSecret)
	path := t.TempDir() + "/c.yaml"
	if err := os.WriteFile(path, []byte(`issuer: https://id.example.com
http: {addr: "127.0.0.1:0", drain_period: 1ms}
log: {level: error}
storage: {type: memory}
keys: {encryption_key: "`+apptest.Key32()+`"}
sessions: {csrf_key: "`+apptest.Key32()+`"}
passwords: {argon2: {memory_kib: 1024, iterations: 1, parallelism: 1}}
notify: {email: {type: smtp, smtp: {host: smtp.example.com, port: 587, from: "no-reply@example.com"}}}
bootstrap:
  organizations: [{slug: acme, name: Acme}]
  users: [{email: admin@example.com, password: "${REVIEW_ADMIN_PW}", name: Admin, organization: acme, role: owner}]
  clients: [{id: web, name: Web, secret: "${REVIEW_CLIENT_SECRET}", redirect_uris: ["https://rp.example/cb"], grant_types: [authorization_code]}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DevMode {
		t.Fatal("the config is not in dev mode")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out reviewBuffer
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, "test", &out) }()
	for i := 0; i < 200 && !strings.Contains(out.String(), "running"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	for name, v := range map[string]string{"bootstrap password": adminPW, "client secret": clientSecret} {
		if strings.Contains(out.String(), v) {
			t.Errorf("serve printed the %s to stderr outside dev_mode", name)
		}
	}
}
