package app_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// Two replicas on one PostgreSQL: the replica exchanging a code dies after
// the redemption committed and before its answer went out (its database
// sessions end, as when the process is killed). The client's retry on the
// other replica gets working tokens, and the code is spent from then on.
func TestCodeExchangeRetriedOnAnotherReplica(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, "postgres", func(c *app.Config) { c.HTTP.RequestBudget = 3 * time.Second })
	cfg := *a.Cfg
	b := apptest.StartOn(t, httptest.NewUnstartedServer(nil), &cfg)
	b.Issuer = b.Srv.URL

	code, verifier := a.CodeFor(a.Browser(), nil)
	ctx := t.Context()
	db, err := pgx.Connect(ctx, a.Cfg.Storage.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	// Hold the exchange after its redemption: its refresh token waits on
	// this lock.
	hold, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx) //nolint:errcheck // released below
	if _, err := hold.Exec(ctx, `LOCK TABLE refresh_tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	first := make(chan int, 1)
	go func() {
		resp, _ := a.Exchange(code, verifier)
		first <- resp.StatusCode
	}()

	// Once the redemption committed, the replica dies: every session of
	// its exchange ends (the claim's, and the one waiting on the lock).
	admin, err := pgx.Connect(ctx, a.Cfg.Storage.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var redeemed, waiting bool
		if err := admin.QueryRow(ctx, `SELECT
				EXISTS (SELECT 1 FROM auth_requests WHERE redeemed_at IS NOT NULL AND code_claimed),
				EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database())`).Scan(&redeemed, &waiting); err != nil {
			t.Fatal(err)
		}
		if redeemed && waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exchange never reached its refresh token (redeemed %v, waiting %v)", redeemed, waiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ended int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1
		  AND (wait_event_type = 'Lock' OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = x'434f4445'::int))`,
		db.PgConn().PID()).Scan(&ended); err != nil || ended != 2 {
		t.Fatalf("ending the dead replica's sessions: %d %v", ended, err)
	}
	if status := <-first; status == http.StatusOK {
		t.Fatal("the dying replica's answer went out")
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	resp, body := b.Exchange(code, verifier)
	retryWorked(t, resp, body, a, b)
	if resp, body := a.Exchange(code, verifier); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("replay after the retry's answer: %d %s", resp.StatusCode, body)
	}
}

// An answer that went out but could not be recorded must not look lost:
// the exchange holds its claim until no retry could be taken, so a second
// presentation meanwhile is a replay, refused, and revokes what the first
// answer gave.
func TestCodeDeliveryUnrecordedFailsClosed(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	ctx := t.Context()
	db, err := pgx.Connect(ctx, e.Cfg.Storage.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `
		CREATE FUNCTION refuse_delivery() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'the database went away'; END $$;
		CREATE TRIGGER refuse_delivery BEFORE UPDATE OF code_delivered_at ON auth_requests
			FOR EACH ROW WHEN (NEW.code_delivered_at IS NOT NULL) EXECUTE FUNCTION refuse_delivery()`); err != nil {
		t.Fatal(err)
	}
	code, verifier := e.CodeFor(e.Browser(), nil)
	resp, body := e.Exchange(code, verifier)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", resp.StatusCode, body)
	}
	first := apptest.DecodeToken(t, body)
	if resp, body := e.Exchange(code, verifier); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("second presentation after an unrecorded answer: %d %s", resp.StatusCode, body)
	}
	if e.Userinfo(first.AccessToken).StatusCode != http.StatusUnauthorized {
		t.Fatal("the replay did not revoke the delivered tokens")
	}
}

// pauseQuery holds one statement whose SQL contains sql, once armed:
// before it runs, or (after) once it has run without error, until resume
// is closed.
type pauseQuery struct {
	sql     string
	after   bool
	armed   atomic.Bool
	reached chan struct{}
	resume  chan struct{}
}

func newPause(sql string, after bool) *pauseQuery {
	return &pauseQuery{sql: sql, after: after, reached: make(chan struct{}), resume: make(chan struct{})}
}

type pausedKey struct{}

func (p *pauseQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if !strings.Contains(d.SQL, p.sql) {
		return ctx
	}
	if p.after {
		return context.WithValue(ctx, pausedKey{}, true)
	}
	p.hold()
	return ctx
}

func (p *pauseQuery) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if ctx.Value(pausedKey{}) != nil && d.Err == nil {
		p.hold()
	}
}

func (p *pauseQuery) hold() {
	if p.armed.CompareAndSwap(true, false) {
		close(p.reached)
		<-p.resume
	}
}

// A client that half-closes its side (it still reads the answer) ends the
// request's context in net/http while the exchange is still at work; here,
// after its answer went out and before its delivery is recorded. The
// claim must outlive that: a second presentation meanwhile is a replay,
// not a retry (review finding: it got a second 200).
func TestCodeClaimOutlivesAHalfClosedRequest(t *testing.T) {
	t.Parallel()
	pause := newPause("SET code_delivered_at", false) // the answer is out, its claim still held
	e := apptest.New(t, "postgres", func(c *app.Config) { c.Storage.Postgres.Tracer = pause })
	code, verifier := e.CodeFor(e.Browser(), nil)
	pause.armed.Store(true)

	conn, err := net.Dial("tcp", e.Srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier}}.Encode()
	req, err := http.NewRequest(http.MethodPost, e.Issuer+"/oauth/token", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", apptest.WebSecret)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pause.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the exchange never came to record its delivery")
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // net/http has seen the half-close by now
	resp, body := e.Exchange(code, verifier)
	close(pause.resume)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("a second presentation while the first still answered: %d %s", resp.StatusCode, body)
	}
	first, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	if first.StatusCode != http.StatusOK {
		t.Fatalf("the half-closed client's answer: %d", first.StatusCode)
	}
}

// Two replicas on one PostgreSQL: a refresh commits its rotation on one
// replica, whose answer never reaches the client (the client gives up).
// The client's retry with the same token on the other replica keeps the
// family: fresh tokens that work everywhere; the lost successor turning up
// later is reuse and ends the family.
func TestRefreshRetriedOnAnotherReplica(t *testing.T) {
	t.Parallel()
	pause := newPause("SET used_at = $2, successor_hash = $3", true) // the rotation committed (one statement)
	a := apptest.New(t, "postgres", func(c *app.Config) { c.Storage.Postgres.Tracer = pause })
	cfg := *a.Cfg
	cfg.Storage.Postgres.Tracer = nil
	b := apptest.StartOn(t, httptest.NewUnstartedServer(nil), &cfg)
	b.Issuer = b.Srv.URL

	code, verifier := a.CodeFor(a.Browser(), nil)
	_, body := a.Exchange(code, verifier)
	rt := apptest.DecodeToken(t, body).RefreshToken
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}

	// The client's first try, to replica a: its rotation commits, then the
	// replica stalls and the client gives up.
	pause.armed.Store(true)
	lost := make(chan string, 1)
	go func() {
		_, body := a.PostToken("/oauth/token", form, "web", apptest.WebSecret)
		lost <- body
	}()
	select {
	case <-pause.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh never reached its rotation")
	}

	resp, body := b.PostToken("/oauth/token", form, "web", apptest.WebSecret)
	close(pause.resume)
	retried := retryWorked(t, resp, body, a, b)
	next := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {retried.RefreshToken}}
	if resp, body := a.PostToken("/oauth/token", next, "web", apptest.WebSecret); resp.StatusCode != http.StatusOK {
		t.Fatalf("the family after the retry: %d %s", resp.StatusCode, body)
	}
	// The lost answer, had it arrived, holds a successor that is now reuse.
	lostRT := apptest.DecodeToken(t, <-lost).RefreshToken
	if lostRT == "" || lostRT == retried.RefreshToken {
		t.Fatalf("the stalled replica's answer: %q", lostRT)
	}
	if resp, _ := b.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {lostRT}}, "web", apptest.WebSecret); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the lost successor: %d", resp.StatusCode)
	}
}

// retryWorked checks a client's retry on another replica: a 200 whose
// access token works on every replica.
func retryWorked(t *testing.T, resp *http.Response, body string, replicas ...*apptest.Env) apptest.TokenResponse {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the client's retry on the other replica: %d %s", resp.StatusCode, body)
	}
	tok := apptest.DecodeToken(t, body)
	for _, r := range replicas {
		if r.Userinfo(tok.AccessToken).StatusCode != http.StatusOK {
			t.Fatalf("the retry's access token fails on %s", r.Issuer)
		}
	}
	return tok
}
