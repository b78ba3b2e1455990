package provider

import (
	"github.com/optibid/idp/provider/claims"
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
			Help: "Access tokens issued, by grant type and API (the audience; \"client\" for a token only for its client)."},
			[]string{"grant", "api"}),
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

// issued counts an access token once per API it is for.
func (m *metrics) issued(grant string, at *claims.AccessToken) {
	for _, aud := range at.Audience {
		api := aud
		if aud == at.ClientID {
			api = "client"
		}
		m.tokens.WithLabelValues(grant, api).Inc()
	}
}
