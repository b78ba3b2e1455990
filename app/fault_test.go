package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/internal/pgcluster"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// Three replicas on one PostgreSQL, under load, lose the database for
// 20 seconds: discovery and JWKS never fail, store-bound calls fail fast
// with 503 and Retry-After, everything works again within two seconds of
// recovery, every client's token family survives, and the audit log holds
// a row for every refresh a client saw succeed (none missing; extra rows
// only for answers that failed after their write).
func TestThreeReplicasRideOutADatabaseOutage(t *testing.T) {
	const outage = 20 * time.Second
	t.Parallel()
	// A refresh whose answer was cut as the outage began is retried only
	// after it: the grace must outlast the outage (tokens.refresh_grace;
	// the default 5s suits a retry on another replica).
	a := apptest.New(t, "postgres", func(c *app.Config) {
		c.HTTP.RequestBudget = 500 * time.Millisecond
		c.Tokens.RefreshGrace = outage + 10*time.Second
	})
	replicas := []*apptest.Env{a}
	for range 2 {
		cfg := *a.Cfg
		r := apptest.StartOn(t, httptest.NewUnstartedServer(nil), &cfg)
		r.Issuer = r.Srv.URL // same issuer, own listener
		replicas = append(replicas, r)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	for _, r := range replicas {
		go r.App.Run(ctx)
	}

	// Each worker owns a token family and refreshes it round-robin across
	// the replicas; the ledger counts the refreshes it saw succeed.
	const workers = 4
	tokens := make([]string, workers)
	for i := range tokens {
		code, v := a.CodeFor(a.Browser(), nil)
		_, body := a.Exchange(code, v)
		tokens[i] = apptest.DecodeToken(t, body).RefreshToken
	}
	var seen, ambiguous, staticFailures, slow, noRetryAfter atomic.Int64
	var wg sync.WaitGroup
	refresh := func(r *apptest.Env, rt string) (int, string, http.Header, time.Duration) {
		start := time.Now()
		resp, body := r.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", apptest.WebSecret)
		return resp.StatusCode, body, resp.Header, time.Since(start)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				status, body, h, took := refresh(replicas[(w+i)%len(replicas)], tokens[w])
				switch status {
				case http.StatusOK:
					tokens[w] = apptest.DecodeToken(t, body).RefreshToken
					seen.Add(1)
				case http.StatusServiceUnavailable:
					ambiguous.Add(1)
					if h.Get("Retry-After") == "" {
						noRetryAfter.Add(1)
					}
					if took > 3*time.Second {
						slow.Add(1)
					}
				default:
					t.Errorf("refresh: %d %.200s", status, body)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() { // discovery and JWKS must not notice the outage
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			r := replicas[i%len(replicas)]
			for _, p := range []string{"/.well-known/openid-configuration", "/keys", "/readyz"} {
				if resp, _ := r.Browser().Get(p); resp.StatusCode != 200 {
					staticFailures.Add(1)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// fail stops the load first: no worker may log after the test ends.
	fail := func(format string, args ...any) {
		t.Helper()
		stop()
		wg.Wait()
		t.Fatalf(format, args...)
	}
	time.Sleep(time.Second)
	var dbName string
	conn, err := pgx.Connect(t.Context(), a.Cfg.Storage.Postgres.DSN)
	if err == nil {
		err = conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&dbName)
		conn.Close(context.Background())
	}
	if err != nil {
		fail("database name: %v", err)
	}
	// The operator's connection, to the cluster's maintenance database.
	adminDSN, err := pgcluster.WithDatabase(a.Cfg.Storage.Postgres.DSN, "postgres")
	if err != nil {
		fail("admin dsn: %v", err)
	}
	admin, err := pgx.Connect(t.Context(), adminDSN)
	if err != nil {
		fail("admin connection: %v", err)
	}
	defer admin.Close(context.Background())
	exec := func(q string, args ...any) {
		if _, err := admin.Exec(t.Context(), q, args...); err != nil {
			fail("%s: %v", q, err)
		}
	}
	// The outage: no new connections, every existing one cut.
	exec(`ALTER DATABASE ` + pgx.Identifier{dbName}.Sanitize() + ` ALLOW_CONNECTIONS false`)
	exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName)
	time.Sleep(outage)
	exec(`ALTER DATABASE ` + pgx.Identifier{dbName}.Sanitize() + ` ALLOW_CONNECTIONS true`)
	recovered := time.Now()

	// Within two seconds of recovery every replica refreshes again.
	before := seen.Load()
	deadline := recovered.Add(2 * time.Second)
	for seen.Load() < before+int64(2*workers) {
		if time.Now().After(deadline) {
			fail("not working again within 2s of recovery (%d refreshes since)", seen.Load()-before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	wg.Wait()

	if n := staticFailures.Load(); n != 0 {
		t.Errorf("discovery, JWKS or readiness failed %d times during the outage", n)
	}
	if n := noRetryAfter.Load(); n != 0 {
		t.Errorf("%d 503 answers without Retry-After", n)
	}
	if n := slow.Load(); n != 0 {
		t.Errorf("%d store-bound answers took over 3s (budget 500ms)", n)
	}
	if ambiguous.Load() == 0 {
		t.Error("the outage was never felt: the test proves nothing")
	}
	// Every family is alive: the last token of each refreshes.
	for w, rt := range tokens {
		if status, body, _, _ := refresh(a, rt); status != 200 {
			t.Errorf("worker %d's family did not survive: %d %s", w, status, body)
		} else {
			seen.Add(1)
		}
	}
	evs, err := a.App.Store.ListAudit(context.Background(), storage.AuditFilter{Type: string(manage.EventTokenRefreshed), Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	// The ledger and the audit log agree exactly: one row for every
	// refresh a client received, none missing, none extra. A rotation whose
	// answer was cut has its row, and the client's retry (refresh grace)
	// is marked as one, so it is not counted twice.
	var rows, retries int64
	for _, ev := range evs {
		if ev.Details["retry"] == "lost_answer" {
			retries++
		} else {
			rows++
		}
	}
	if rows != seen.Load() || retries > ambiguous.Load() {
		t.Fatalf("audit has %d token_refreshed rows (and %d retries); clients saw %d succeed and %d fail ambiguously", rows, retries, seen.Load(), ambiguous.Load())
	}
	t.Logf("outage %s: %d refreshes seen, %d answered 503, %d audit rows, %d retries of lost answers", outage, seen.Load(), ambiguous.Load(), rows, retries)
	if reuse, _ := a.App.Store.ListAudit(context.Background(), storage.AuditFilter{Type: string(manage.EventRefreshTokenReuse)}); len(reuse) != 0 {
		t.Fatalf("%d families revoked for reuse", len(reuse))
	}
}
