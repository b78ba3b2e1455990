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

// forwarding adds an X-Forwarded-For line to every request, as a load
// balancer would (or as a client trying to choose its address would).
type forwarding struct{ xff string }

func (f forwarding) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.xff)
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
			b.Client().Transport = forwarding{xff: "203.0.113.66, 198.51.100.23"}
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
