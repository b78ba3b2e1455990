package login_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/login/password"
)

// Handler-level benchmark of the sign-in form, in process (no network);
// setup uses the loopback harness. The token endpoint's benchmarks are in
// provider.
//
//	go test -run '^$' -bench . -benchmem ./login

// BenchmarkPasswordLogin posts the login form with production argon2id
// parameters: the hash dominates.
func BenchmarkPasswordLogin(b *testing.B) {
	e := apptest.New(b, "memory", func(c *app.Config) { c.Passwords.Argon2 = password.DefaultParams() })
	br := e.Browser()
	_, page := br.Authorize(e.AuthURL(nil))
	f := apptest.Hidden(page)
	f.Set("email", apptest.UserEmail)
	f.Set("password", apptest.UserPassword)
	u, _ := url.Parse(e.Issuer)
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/login", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range br.Client().Jar.Cookies(u) {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		e.App.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("POST /login: %d %s", rec.Code, rec.Body.String())
		}
	}
}
