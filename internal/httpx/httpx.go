// Package httpx holds the HTTP plumbing shared by the provider and the login
// screens: request IDs, security headers, body limits, route metrics, the
// browser-binding cookie, and client-IP extraction.
package httpx

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientIPKey
	infoKey
)

// requestInfo is what handlers learn about a request that the access log
// reports (request metadata only, never a dependency).
type requestInfo struct {
	mu       sync.Mutex
	clientID string
}

// NoteClient records which client a request is for, once the handler
// knows it (an authenticated client, or the client of a sign-in), for
// the access log.
func NoteClient(ctx context.Context, clientID string) {
	if in, ok := ctx.Value(infoKey).(*requestInfo); ok {
		in.mu.Lock()
		in.clientID = clientID
		in.mu.Unlock()
	}
}

// RequestID returns the request's ID (set by Middleware), or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// ClientIP returns the address of the request's client (set by
// Middleware: the peer, or what trusted proxies say it is).
func ClientIP(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey).(string)
	return s
}

// LogHandler wraps a slog handler so that every record logged with a
// request context carries request_id.
type LogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(a []slog.Attr) slog.Handler { return LogHandler{h.Handler.WithAttrs(a)} }

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(n string) slog.Handler { return LogHandler{h.Handler.WithGroup(n)} }

// Metrics are the HTTP-level Prometheus series.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_http_requests_total",
			Help: "HTTP requests by route and status."}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "optibid_http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// method is r's method for labels and names: one of the methods we serve,
// or _OTHER, so a caller cannot mint a metric series (or span name) per
// made-up method.
func method(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return r.Method
	}
	return "_OTHER"
}

// MaxBody is the largest request body any endpoint reads (forms, tokens).
const MaxBody = 64 << 10

// Middleware is the outermost wrapper of every route: it assigns a request
// ID, finds the client's address (through proxies: TrustedProxies), gives
// the request its store budget (storage.WithBudget), caps the body, sets
// the headers every response needs, recovers from panics as a plain 500
// without detail, and records metrics.
func Middleware(m *Metrics, hsts bool, budget time.Duration, proxies TrustedProxies) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := random.ID()
			ip := proxies.ClientIP(r)
			info := &requestInfo{}
			ctx := context.WithValue(context.WithValue(context.WithValue(r.Context(), requestIDKey, id), clientIPKey, ip), infoKey, info)
			if budget > 0 {
				ctx = storage.WithBudget(ctx, budget)
			}
			r = r.WithContext(ctx)
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
			h := w.Header()
			h.Set("X-Request-Id", id)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			if hsts {
				h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
			}
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			if !cleanInput(r) {
				// NUL and invalid UTF-8 are refused here, at the edge: no
				// handler passes them on for the database to choke on.
				h.Set("Content-Type", "application/json")
				h.Set("Cache-Control", "no-store")
				sw.WriteHeader(http.StatusBadRequest)
				_, _ = sw.Write([]byte(`{"error":"invalid_request","error_description":"The request contains characters that are not allowed."}` + "\n"))
				if m != nil {
					m.requests.WithLabelValues("refused", method(r), "400").Inc()
				}
				slog.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", method(r)), slog.String("route", "refused"),
					slog.Int("status", http.StatusBadRequest), slog.String("reason", "NUL or invalid UTF-8 in the input"))
				return
			}
			defer func() {
				if p := recover(); p != nil {
					slog.ErrorContext(ctx, "panic serving request", "panic", p, "path", r.URL.Path)
					if !sw.wrote {
						http.Error(sw, "internal error", http.StatusInternalServerError)
					}
				}
				route := "unmatched"
				if cr := mux.CurrentRoute(r); cr != nil {
					if t, err := cr.GetPathTemplate(); err == nil {
						route = t
					}
				}
				elapsed := time.Since(start)
				if span := trace.SpanFromContext(ctx); span.IsRecording() {
					span.SetName(method(r) + " " + route)
					span.SetAttributes(attribute.String("http.route", route), attribute.String("optibid.request_id", id))
				}
				if m != nil {
					m.requests.WithLabelValues(route, method(r), strconv.Itoa(sw.status)).Inc()
					m.duration.WithLabelValues(route, method(r)).Observe(elapsed.Seconds())
				}
				// The access log: the route template, never the path or
				// query (which can carry codes and tokens).
				if !slog.Default().Enabled(ctx, slog.LevelInfo) {
					return // log.level above info: build nothing per request
				}
				info.mu.Lock()
				clientID := info.clientID
				info.mu.Unlock()
				attrs := []slog.Attr{slog.String("method", method(r)), slog.String("route", route), slog.Int("status", sw.status),
					slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), slog.Int64("bytes", sw.bytes)}
				if clientID != "" {
					attrs = append(attrs, slog.String("client_id", clientID))
				}
				slog.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// cleanInput reports whether the query and, for form posts, the form
// carry only valid UTF-8 without NUL (the form is parsed here once; the
// handlers reuse it).
func cleanInput(r *http.Request) bool {
	ok := func(vs url.Values) bool {
		for k, list := range vs {
			if !cleanString(k) {
				return false
			}
			for _, v := range list {
				if !cleanString(v) {
					return false
				}
			}
		}
		return true
	}
	q, _ := url.ParseQuery(r.URL.RawQuery) // malformed escapes are the handler's to answer
	if !ok(q) || !cleanString(r.URL.Path) {
		return false
	}
	// The form is read here, at the edge, for any spelling of its media
	// type: a slow body is read before the request holds anything (an
	// admission slot), and its characters are checked like the query's.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return true // the handler answers a malformed body itself
		}
		return ok(r.PostForm)
	}
	return true
}

func cleanString(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
		// Every 503, page or API, tells the client when to come back.
		if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "2")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush: the
// token endpoint learns whether a code's answer went out).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// PageCSP is the Content-Security-Policy of every HTML page: same-origin
// assets only, no inline script or style, no framing. Scripts come from
// our own static files only (the passkey ceremony, which talks to our own
// endpoints: connect-src 'self'); every page works without them.
//
// No form-action: browsers apply it to every redirect that follows a form
// submission, and a sign-in form ends in a redirect to the client's
// redirect URI, which is never 'self'. With form-action 'self' no login
// could complete in a real browser.
const PageCSP = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"

// NoStore marks a response as uncacheable (token responses, pages with
// per-user data).
func NoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// UserAgent is the request's User-Agent as we store it: valid UTF-8
// without NUL, at most 256 bytes, cut on a character boundary.
func UserAgent(r *http.Request) string {
	ua := strings.ReplaceAll(strings.ToValidUTF8(r.UserAgent(), "\uFFFD"), "\x00", "")
	if len(ua) <= 256 {
		return ua
	}
	cut := 256
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// Clip bounds a value received from a caller before it is logged: enough
// to see what was sent, not a way to flood the log. It cuts at a character
// boundary.
func Clip(s string) string {
	const limit = 512
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
