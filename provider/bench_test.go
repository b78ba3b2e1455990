package provider_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/storage"
)

// Handler-level benchmarks of the hot paths, in process (no network): the
// cost of our code and the engine's. Setup uses the loopback harness. On
// PostgreSQL each reports sql/op, the round trips per request. The sign-in
// form's benchmark is in login.
//
//	go test -run '^$' -bench . -benchmem ./provider

func benchEnv(b *testing.B, store string, mutate ...func(*app.Config)) (*apptest.Env, *apptest.QueryCounter) {
	b.Helper()
	qc := &apptest.QueryCounter{}
	e := apptest.New(b, store, append(mutate, func(c *app.Config) { c.Storage.Postgres.Tracer = qc })...)
	return e, qc
}

// serveBench runs one request through the handler and fails on an unexpected
// status.
func serveBench(b *testing.B, h http.Handler, req *http.Request, want int) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body.String())
	}
}

func formReq(path string, form url.Values, client, secret string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(client, secret)
	}
	return req
}

func reportSQL(b *testing.B, qc *apptest.QueryCounter, before int64) {
	b.ReportMetric(float64(qc.N()-before)/float64(b.N), "sql/op")
}

// benchAPI declares an API signed with alg and a client acting for it, so
// that the benchmarks measure API tokens and introspection by an API.
func benchAPI(alg string) func(*app.Config) {
	return func(c *app.Config) {
		c.Bootstrap.APIs = append(c.Bootstrap.APIs, app.BootstrapAPI{Identifier: apptest.TradingAPI, Name: "Trading", SigningAlg: alg,
			Claims: []string{"org", "permissions"}, Scopes: []storage.APIScope{{Name: "bids:read"}}})
		c.Bootstrap.Clients = append(c.Bootstrap.Clients, app.BootstrapClient{ID: "trading-api", Secret: apptest.TradingSecret, Name: "Trading API",
			GrantTypes: []string{"client_credentials"}, ActsFor: []string{apptest.TradingAPI}})
		c.Bootstrap.Clients[0].DefaultAPI = apptest.TradingAPI // web's tokens are for it
	}
}

// BenchmarkClientCredentials mints a token for an API: its algorithm
// (ES256 by default) dominates.
func BenchmarkClientCredentials(b *testing.B) {
	for _, store := range []string{"memory", "postgres"} {
		for _, alg := range []string{"ES256", "RS256"} {
			b.Run(store+"/"+alg, func(b *testing.B) {
				e, qc := benchEnv(b, store, benchAPI(alg))
				form := url.Values{"grant_type": {"client_credentials"}, "scope": {"bids:read"}, "resource": {apptest.TradingAPI}}
				serveBench(b, e.App.Handler, formReq("/oauth/token", form, "svc", apptest.SvcSecret), 200) // warm the client cache
				before := qc.N()
				b.ResetTimer()
				for b.Loop() {
					serveBench(b, e.App.Handler, formReq("/oauth/token", form, "svc", apptest.SvcSecret), 200)
				}
				reportSQL(b, qc, before)
			})
		}
	}
}

// userTokens logs in through the loopback harness and returns tokens.
func userTokens(b *testing.B, e *apptest.Env) apptest.TokenResponse {
	b.Helper()
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	var tr apptest.TokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.RefreshToken == "" {
		b.Fatalf("tokens: %s", body)
	}
	return tr
}

// BenchmarkCodeExchange redeems a code (the sign-in that makes each one is
// not timed). With a code grace each exchange also claims its code and
// records that its answer went out; "no-grace" shows what that costs.
func BenchmarkCodeExchange(b *testing.B) {
	for _, v := range []struct {
		name, store string
		grace       time.Duration
	}{{"memory", "memory", 0}, {"postgres", "postgres", 0}, {"postgres/no-grace", "postgres", -time.Second}} {
		b.Run(v.name, func(b *testing.B) {
			e, qc := benchEnv(b, v.store, func(c *app.Config) { c.Tokens.CodeGrace = v.grace })
			var statements int64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				code, verifier := e.CodeFor(e.Browser(), nil)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier}}
				before := qc.N()
				b.StartTimer()
				serveBench(b, e.App.Handler, formReq("/oauth/token", form, "web", apptest.WebSecret), 200)
				statements += qc.N() - before
			}
			b.ReportMetric(float64(statements)/float64(b.N), "sql/op")
		})
	}
}

// BenchmarkIntrospection: the API a user's token is for introspects it
// with its own credentials (aim: one SQL round trip).
func BenchmarkIntrospection(b *testing.B) {
	for _, store := range []string{"memory", "postgres"} {
		b.Run(store, func(b *testing.B) {
			e, qc := benchEnv(b, store, benchAPI(""))
			tok := userTokens(b, e)
			form := url.Values{"token": {tok.AccessToken}}
			rec := httptest.NewRecorder()
			e.App.Handler.ServeHTTP(rec, formReq("/oauth/introspect", form, "trading-api", apptest.TradingSecret))
			if !strings.Contains(rec.Body.String(), `"active":true`) {
				b.Fatalf("introspection by the API: %s", rec.Body.String())
			}
			before := qc.N()
			b.ResetTimer()
			for b.Loop() {
				serveBench(b, e.App.Handler, formReq("/oauth/introspect", form, "trading-api", apptest.TradingSecret), 200)
			}
			reportSQL(b, qc, before)
		})
	}
}

// BenchmarkRefresh rotates a refresh token; each refresh signs an access
// token and an ID token, so the client's algorithm dominates.
func BenchmarkRefresh(b *testing.B) {
	for _, v := range []struct{ store, alg string }{{"memory", "ES256"}, {"memory", "RS256"}, {"postgres", "ES256"}, {"postgres", "RS256"}} {
		b.Run(v.store+"/"+v.alg, func(b *testing.B) {
			e, qc := benchEnv(b, v.store, func(c *app.Config) { c.Bootstrap.Clients[0].IDTokenSignedAlg = v.alg })
			benchRefresh(b, e, qc, userTokens(b, e).RefreshToken)
		})
	}
}

func BenchmarkDiscoveryAndJWKS(b *testing.B) {
	e, _ := benchEnv(b, "memory")
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		b.Run(strings.Trim(path, "/."), func(b *testing.B) {
			for b.Loop() {
				serveBench(b, e.App.Handler, httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil), 200)
			}
		})
	}
}

// BenchmarkRefreshEntitlements: the token path with org and entitlements
// claims recomputed for an organization with 100 features.
func BenchmarkRefreshEntitlements(b *testing.B) {
	for _, store := range []string{"memory", "postgres"} {
		b.Run(store, func(b *testing.B) {
			e, qc := benchEnv(b, store, hundredFeatures)
			code, v := e.CodeFor(e.Browser(), map[string]string{"scope": "openid org entitlements offline_access"})
			_, body := e.Exchange(code, v)
			var tr apptest.TokenResponse
			if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.RefreshToken == "" {
				b.Fatalf("tokens: %s", body)
			}
			benchRefresh(b, e, qc, tr.RefreshToken)
			b.ReportMetric(float64(len(tr.IDToken)), "idtoken-bytes") // after benchRefresh: ResetTimer drops metrics
		})
	}
}

// benchRefresh rotates a refresh token b.N times and reports sql/op.
func benchRefresh(b *testing.B, e *apptest.Env, qc *apptest.QueryCounter, rt string) {
	before := qc.N()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.App.Handler.ServeHTTP(rec, formReq("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", apptest.WebSecret))
		var tr apptest.TokenResponse
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &tr) != nil {
			b.Fatalf("refresh: %d %s", rec.Code, rec.Body.String())
		}
		rt = tr.RefreshToken
	}
	reportSQL(b, qc, before)
}
