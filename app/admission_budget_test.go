package app_test

// Admission control and the store budget under the attacks a review tried
// first: each test states the property that holds.

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// A public client "authenticates" with its client_id alone, so anyone can
// charge its bucket: a stranger's requests naming client_id=native must not
// shut out the real users of that client.
func TestStrangersCannotSpendAPublicClientsBucket(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Tokens.ClientRate, c.Tokens.ClientBurst = 0.5, 3 })
	garbage := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}, "client_id": {"native"}}
	for range 5 { // no secret, no token: just the public client's ID
		e.PostToken("/oauth/token", garbage, "", "")
	}
	resp, body := e.PostToken("/oauth/token", garbage, "", "") // stands for any real user of "native"
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Errorf("a stranger exhausted the public client's allowance: %d %s", resp.StatusCode, body)
	}
	// Worse, its users' sign-outs cannot revoke their refresh tokens.
	resp, body = e.PostToken("/revoke", url.Values{"token": {"a-users-refresh-token"}, "client_id": {"native"}}, "", "")
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Errorf("revocation refused for a stranger's flood: %d %s", resp.StatusCode, body)
	}
}

// The in-flight cap must not be held by a caller who has not even sent its
// request body. The edge reads form bodies before the cap only when the
// Content-Type is spelt in lower case; with any other spelling the body is
// read inside the slot (up to http.server ReadTimeout, 15s), so a handful of
// idle connections per replica answer 503 to every client.
func TestSlowBodyDoesNotHoldAnAdmissionSlot(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Tokens.MaxConcurrent = 1 })
	conn, err := net.Dial("tcp", e.Srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("POST /oauth/token HTTP/1.1\r\nHost: " + e.Srv.Listener.Addr().String() +
		"\r\nContent-Type: Application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type="))
	time.Sleep(300 * time.Millisecond) // the handler is in, waiting for the rest of the body
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"market:view"}}
	resp, body := e.PostToken("/oauth/token", cc, "svc", apptest.SvcSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one idle connection shut the token endpoint: %d %s", resp.StatusCode, body)
	}
}

// The same spelling slips NUL past the edge check (TestNULAndInvalidUTF8AreRefusedAtTheEdge):
// it reaches PostgreSQL, which refuses it, and the caller's hostile input
// becomes a 503 instead of a 4xx.
func TestNULWithOddContentTypeIsRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth/token",
		strings.NewReader("grant_type=client_credentials&client_id=svc%00x&client_secret=x"))
	req.Header.Set("Content-Type", "Application/x-www-form-urlencoded")
	resp, err := e.Srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Fatalf("NUL in a form with an upper-case Content-Type: %d, want 4xx", resp.StatusCode)
	}
}

// Statements inside s.tx closures run on the caller's context, not the
// budgeted one (only BEGIN and COMMIT are bounded), so a lock on a table a
// transaction writes holds the request far past http.request_budget.
func TestBudgetBoundsTransactionalWrites(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres", func(c *app.Config) { c.HTTP.RequestBudget = 300 * time.Millisecond })
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	rt := apptest.DecodeToken(t, body).RefreshToken
	conn, err := pgx.Connect(t.Context(), e.Cfg.Storage.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Reads go on; appends to the audit log wait.
	if _, err := tx.Exec(t.Context(), "LOCK TABLE audit_log IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(4*time.Second, func() { _ = tx.Rollback(context.Background()) })
	defer release.Stop()
	start := time.Now()
	resp, _ := e.PostToken("/revoke", url.Values{"token": {rt}}, "web", apptest.WebSecret)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("revocation against a locked audit_log took %s (status %d); the budget is 300ms", took, resp.StatusCode)
	}
}

// The README puts userinfo under the per-client bucket, but userinfo never
// charges one: any holder of one access token (a browser's, for a public
// client) can keep the replica's whole in-flight cap busy with store-bound
// requests, bounded by nothing but the global cap.
func TestUserinfoIsChargedToTheTokensHolder(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Tokens.ClientRate, c.Tokens.ClientBurst = 0.5, 3 })
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	at := apptest.DecodeToken(t, body).AccessToken
	for range 10 {
		if e.Userinfo(at).StatusCode == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("10 userinfo calls with one token over a 3-request burst: never 429")
}

// One person's flood of userinfo with their own token spends their own
// allowance, not the client's: the application's token requests, and the
// other people signed in to it, are not refused for it.
func TestOneUsersUserinfoFloodSparesTheClient(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(c *app.Config) { c.Tokens.ClientRate, c.Tokens.ClientBurst = 0.5, 3 })
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	flooder := apptest.DecodeToken(t, body).AccessToken
	for range 10 {
		e.Userinfo(flooder)
	}
	b := e.Browser()
	u := b.Login(e.AuthURL(nil), "bob@example.com", apptest.UserPassword)
	resp, body := e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {apptest.RPCallback}}, "web", apptest.WebSecret)
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Fatalf("the client's token request was refused for one user's userinfo flood: %s", body)
	}
	if code := e.Userinfo(apptest.DecodeToken(t, body).AccessToken).StatusCode; code != http.StatusOK {
		t.Fatalf("another user's userinfo: %d", code)
	}
}
