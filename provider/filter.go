package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/optibid/idp/internal/httpx"
)

// oauthError is the RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, e oauthError) {
	httpx.NoStore(w)
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// bufferWriter holds the engine's response so the filter can rewrite it.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.header }
func (b *bufferWriter) WriteHeader(s int)           { b.status = s }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// oauthFilter wraps the engine's one mounted JSON endpoint, revocation:
// every response gets no-store; every error becomes
// RFC 6749 JSON with a description we control; 401s get WWW-Authenticate;
// failures of ours become 503 with Retry-After, never 500 and never a Go
// error string.
func (p *Provider) oauthFilter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &bufferWriter{header: http.Header{}, status: http.StatusOK}
		f := &failure{}
		next.ServeHTTP(bw, r.WithContext(context.WithValue(r.Context(), failureKey{}, f)))
		if f.get() {
			bw.status = http.StatusServiceUnavailable
		}
		for k, v := range bw.header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		if bw.status < 400 {
			httpx.NoStore(w)
			w.WriteHeader(bw.status)
			_, _ = w.Write(bw.body.Bytes())
			return
		}
		var e oauthError
		isJSON := json.Unmarshal(bw.body.Bytes(), &e) == nil && e.Error != ""
		status := bw.status
		switch {
		case status >= 500 || e.Error == "server_error":
			slog.WarnContext(r.Context(), "oauth endpoint failed", "path", r.URL.Path, "status", status, "body", trim(bw.body.String()))
			status, e = http.StatusServiceUnavailable, oauthError{"temporarily_unavailable", "The service is temporarily unavailable. Try again shortly."}
		case !isJSON && status == http.StatusUnauthorized:
			e = oauthError{"invalid_client", "Client authentication failed."}
		case !isJSON:
			e = oauthError{"invalid_request", "The request is malformed."}
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`", error="invalid_client"`)
		}
		e.Description = cleanDescription(e.Description)
		writeOAuthError(w, status, e)
	})
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// metrics are the provider's Prometheus series.
type metrics struct {
	tokens            *prometheus.CounterVec
	clientCredentials *prometheus.CounterVec
	codeReplays       prometheus.Counter
	refreshReuse      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_tokens_issued_total",
			Help: "Access tokens issued, by grant type."}, []string{"grant"}),
		clientCredentials: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_client_credentials_tokens_total",
			Help: "client_credentials tokens by client (machine traffic is counted here, not audited per token)."}, []string{"client_id"}),
		codeReplays: prometheus.NewCounter(prometheus.CounterOpts{Name: "optibid_code_replays_total",
			Help: "Authorization codes presented again (their tokens were revoked)."}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{Name: "optibid_refresh_token_reuse_total",
			Help: "Rotated refresh tokens presented again (their family was revoked)."}),
	}
	if reg != nil {
		reg.MustRegister(m.tokens, m.clientCredentials, m.codeReplays, m.refreshReuse)
	}
	return m
}
