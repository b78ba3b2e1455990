package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// forwarding adds X-Forwarded-For lines to every request, as a client
// trying to choose its address (the first) and a load balancer that adds
// a line of its own (the last) would.
type forwarding struct{ lines []string }

func (f forwarding) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header["X-Forwarded-For"] = f.lines
	return http.DefaultTransport.RoundTrip(r)
}

// The audit log records the client a trusted balancer names, and the
// connection's own address when the sender is not a trusted proxy, so a
// client cannot choose the address it is logged and limited under.
func TestAuditRecordsTheClientBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		proxies []string
		want    string
	}{
		{"no trusted proxies: the header is a client's claim", nil, "127.0.0.1"},
		{"another proxy is trusted: still the claim of a client", []string{"10.0.0.0/8"}, "127.0.0.1"},
		{"the balancer (loopback here) is trusted", []string{"127.0.0.0/8"}, "198.51.100.23"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := apptest.New(t, "memory", func(cfg *app.Config) { cfg.HTTP.TrustedProxies = c.proxies })
			b := e.Browser()
			b.Client().Transport = forwarding{lines: []string{"203.0.113.66, 198.51.100.23"}}
			_, page := b.Authorize(e.AuthURL(nil))
			if resp, _ := b.SubmitLogin(page, apptest.UserEmail, "not the password"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", resp.StatusCode)
			}
			rows, err := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{Type: string(manage.EventLoginFailed)})
			if err != nil || len(rows) != 1 {
				t.Fatalf("login_failed rows: %v %+v", err, rows)
			}
			if rows[0].IP != c.want {
				t.Fatalf("audit IP %q, want %q", rows[0].IP, c.want)
			}
		})
	}
}

// The console acts through the provider's own routes: their audit rows name
// the same client as the person's own requests, also when the balancer
// adds its own X-Forwarded-For line after one the client wrote (review
// finding: only the first line was passed on).
func TestConsoleActionsKeepTheClientAddress(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory", func(cfg *app.Config) { cfg.HTTP.TrustedProxies = []string{"127.0.0.0/8"} })
	b := e.Browser()
	b.Client().Transport = forwarding{lines: []string{"6.6.6.6", "198.51.100.23"}}
	if resp, page := b.ConsoleSignIn(apptest.UserEmail, apptest.UserPassword); resp.StatusCode != http.StatusOK {
		t.Fatalf("console sign-in: %d %.300s", resp.StatusCode, page)
	}
	_, page := b.Get("/console/orgs/acme/members")
	f := apptest.Hidden(page)
	f.Set("email", "new.member@example.com")
	f.Set("role", "member")
	if resp, _ := b.Post("/console/orgs/acme/do/invite", f); resp.StatusCode >= 400 {
		t.Fatalf("invite: %d", resp.StatusCode)
	}
	rows, err := e.App.Store.ListAudit(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Type] = true
		if r.IP != "" && r.IP != "198.51.100.23" {
			t.Errorf("%s row has IP %q, want the balancer's client 198.51.100.23", r.Type, r.IP)
		}
	}
	if !seen[string(manage.EventInvitationCreated)] || !seen[string(manage.EventLoginSucceeded)] {
		t.Fatalf("rows %v: want the sign-in and the invitation", seen)
	}
}
