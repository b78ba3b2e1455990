package provider

import (
	"github.com/prometheus/client_golang/prometheus"
)

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
