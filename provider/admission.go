package provider

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// admission sheds load on the client-authenticated endpoints (token,
// introspection, revocation, userinfo) instead of queueing it: a flood
// must cost the flooder, not every other client's latency and the
// replica's memory.
//
//   - A global cap on requests in flight (with a short wait for a slot):
//     past it the answer is 503 with Retry-After at once.
//   - A token bucket per authenticated client (rate per second, burst):
//     past it that client gets 429 with Retry-After. It is charged only
//     after the client authenticated, so nobody can spend another client's
//     allowance by sending its ID.
//
// Both are per replica. The bucket table is bounded: at its size it starts
// over, which can only let a client burst once more.
type admission struct {
	slots chan struct{}
	wait  time.Duration
	rate  float64
	burst float64
	now   func() time.Time
	shed  *prometheus.CounterVec

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxBuckets = 100000

func newAdmission(cfg Config, now func() time.Time, reg prometheus.Registerer) *admission {
	a := &admission{slots: make(chan struct{}, cfg.MaxConcurrent), wait: cfg.AdmissionWait, rate: cfg.ClientRate,
		burst: float64(cfg.ClientBurst), now: now, buckets: map[string]*bucket{},
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "optibid_requests_shed_total",
			Help: "Requests refused to shed load: over the in-flight cap (busy) or over a client's rate (client_rate)."},
			[]string{"reason"})}
	if reg != nil {
		reg.MustRegister(a.shed)
	}
	return a
}

// limit holds a slot of the global cap while next runs.
func (a *admission) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.slots <- struct{}{}:
		default:
			t := time.NewTimer(a.wait)
			select {
			case a.slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				a.shed.WithLabelValues("busy").Inc()
				w.Header().Set("Retry-After", "1")
				writeOAuthError(w, http.StatusServiceUnavailable, oauthError{"temporarily_unavailable", "The service is busy. Try again shortly."})
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-a.slots }()
		next.ServeHTTP(w, r)
	})
}

// allow charges one request to the client's bucket; when it is empty it
// says how long until the next request would pass.
func (a *admission) allow(clientID string) (bool, time.Duration) {
	if a.rate <= 0 {
		return true, 0
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[clientID]
	if b == nil {
		if len(a.buckets) >= maxBuckets {
			clear(a.buckets)
		}
		b = &bucket{tokens: a.burst, last: now}
		a.buckets[clientID] = b
	}
	b.tokens = math.Min(a.burst, b.tokens+now.Sub(b.last).Seconds()*a.rate)
	b.last = now
	if b.tokens < 1 {
		a.shed.WithLabelValues("client_rate").Inc()
		return false, time.Duration((1 - b.tokens) / a.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// tooMany answers 429 with Retry-After (whole seconds, at least one).
func tooMany(w http.ResponseWriter, after time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(after.Seconds())))))
	writeOAuthError(w, http.StatusTooManyRequests, oauthError{"slow_down", "Too many requests for this client. Try again later."})
}
