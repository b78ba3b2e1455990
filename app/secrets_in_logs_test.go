package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/optibid/idp/app/apptest"
)

var (
	reviewTOTPSecretRE = regexp.MustCompile(`<code class="secret">([A-Z2-7 ]+)</code>`)
	reviewBackupRE     = regexp.MustCompile(`<li><code>([A-Z2-7-]{19})</code></li>`)
)

// No secret a flow handles (passwords, client secrets, codes, PKCE
// verifiers, tokens, TOTP secrets and codes, backup codes, reset links,
// CSRF tokens, session cookies) appears in the log or in a span, whatever
// the flow's outcome. Not parallel: it installs the process's tracer
// provider while it runs.
func TestNoSecretsInLogsOrSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		_ = tp.Shutdown(context.Background())
	})
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := apptest.New(t, backend)
			secrets := map[string]string{"password": apptest.UserPassword, "client secret": apptest.WebSecret,
				"new password": apptest.NewPassword}
			if backend == "postgres" {
				if u, err := url.Parse(e.Cfg.Storage.Postgres.DSN); err == nil {
					if pw, ok := u.User.Password(); ok && len(pw) >= 6 {
						secrets["database password"] = pw
					}
				}
			}
			add := func(name, v string) {
				if len(v) >= 6 {
					secrets[name] = v
				}
			}
			cookies := func(b *apptest.Browser) {
				u, _ := url.Parse(e.Issuer)
				for _, c := range b.Client().Jar.Cookies(u) {
					add("cookie "+c.Name, c.Value)
				}
			}

			// Wrong password, then a code flow with a wrong client secret
			// first, a replay, refresh, refresh reuse, userinfo,
			// introspection and revocation.
			b := e.Browser()
			_, page := b.Authorize(e.AuthURL(nil))
			add("csrf", apptest.Hidden(page).Get("csrf"))
			const wrongPW = "wrong-password-Zq81xx"
			add("wrong password", wrongPW)
			b.SubmitLogin(page, apptest.UserEmail, wrongPW)
			code, verifier := e.CodeFor(b, nil)
			add("code", code)
			add("verifier", verifier)
			cookies(b)
			const wrongSecret = "wrong-client-secret-Qx7712"
			add("wrong secret", wrongSecret)
			e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier}}, "web", wrongSecret)
			e.PostToken("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {apptest.RPCallback}, "code_verifier": {verifier + "x"}}, "web", apptest.WebSecret)
			b = e.Browser()
			code, verifier = e.CodeFor(b, nil)
			cookies(b)
			add("code 2", code)
			add("verifier 2", verifier)
			_, body := e.Exchange(code, verifier)
			tok := apptest.DecodeToken(t, body)
			add("access token", tok.AccessToken)
			add("refresh token", tok.RefreshToken)
			add("id token", tok.IDToken)
			e.Exchange(code, verifier) // replay
			_, body = e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret)
			tok2 := apptest.DecodeToken(t, body)
			add("refresh token 2", tok2.RefreshToken)
			add("access token 2", tok2.AccessToken)
			e.PostToken("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "web", apptest.WebSecret) // reuse
			e.Userinfo(tok2.AccessToken)
			e.Userinfo(tok2.AccessToken + "garbage")
			e.PostToken("/oauth/introspect", url.Values{"token": {tok2.AccessToken}}, "web", apptest.WebSecret)
			e.PostToken("/oauth/introspect", url.Values{"token": {tok2.RefreshToken}}, "web", wrongSecret)
			e.PostToken("/revoke", url.Values{"token": {tok2.RefreshToken}}, "web", wrongSecret)
			e.PostToken("/revoke", url.Values{"token": {tok2.RefreshToken}}, "web", apptest.WebSecret)
			e.API(http.MethodGet, "/me", tok2.AccessToken, nil)
			e.API(http.MethodGet, "/me", tok2.AccessToken+"x", nil)
			// client_credentials with a wrong and a right secret.
			e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "svc", wrongSecret)
			_, body = e.PostToken("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "svc", apptest.SvcSecret)
			add("svc secret", apptest.SvcSecret)
			add("svc token", apptest.DecodeToken(t, body).AccessToken)

			// TOTP: enroll, a wrong code, a right one, a backup code.
			acct := e.Browser()
			acct.AccountSignIn(apptest.UserEmail, apptest.UserPassword)
			cookies(acct)
			_, page = acct.Get("/account/totp")
			m := reviewTOTPSecretRE.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no TOTP secret: %.300s", page)
			}
			secret := strings.ReplaceAll(m[1], " ", "") // shown in groups of four
			add("totp secret", secret)
			otp, _ := totp.GenerateCode(secret, e.Clock.Now())
			add("totp code (enrol)", otp)
			_, page = acct.Fill(page, "/account/totp", map[string]string{"code": otp})
			backups := reviewBackupRE.FindAllStringSubmatch(page, -1)
			for i, c := range backups {
				add(fmt.Sprintf("backup code %d", i), c[1])
			}
			e.Clock.Offset = 30 * time.Second
			mb := e.Browser()
			_, page = mb.Authorize(e.AuthURL(nil))
			resp, _ := mb.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
			_, mfaPage := mb.Get(resp.Header.Get("Location"))
			mb.Fill(mfaPage, "/login/mfa", map[string]string{"method": "totp", "code": "000000"})
			otp, _ = totp.GenerateCode(m[1], e.Clock.Now())
			add("totp code", otp)
			mb.Fill(mfaPage, "/login/mfa", map[string]string{"method": "totp", "code": otp})
			cookies(mb)
			if len(backups) > 0 {
				b3 := e.Browser()
				_, page = b3.Authorize(e.AuthURL(nil))
				resp, _ = b3.SubmitLogin(page, apptest.UserEmail, apptest.UserPassword)
				_, mfaPage = b3.Get(resp.Header.Get("Location"))
				b3.Fill(mfaPage, "/login/mfa", map[string]string{"method": "backup", "code": backups[0][1]})
				b3.Fill(mfaPage, "/login/mfa", map[string]string{"method": "backup", "code": backups[0][1]}) // reuse
			}

			// Password reset: a weak password, the right one, the link again.
			fb := e.Browser()
			_, page = fb.Get("/forgot")
			fb.Fill(page, "/forgot", map[string]string{"email": apptest.UserEmail})
			link := apptest.LinkIn(t, e.MailTo(apptest.UserEmail, "Reset your password"))
			lu, _ := url.Parse(link)
			add("reset token", lu.Query().Get("token"))
			_, page = fb.Get(link)
			_, page = fb.Fill(page, "/reset", map[string]string{"password": "short"})
			fb.Fill(page, "/reset", map[string]string{"password": apptest.NewPassword})
			fb.Get(link)

			// Logout with the ID token as hint.
			b.Get("/end_session?id_token_hint=" + url.QueryEscape(tok.IDToken) + "&post_logout_redirect_uri=https://rp.example/bye")

			// Scan the log (every line with a request ID) and every span.
			logs := apptest.LogLines("")
			for name, v := range secrets {
				for _, l := range logs {
					if strings.Contains(l, v) {
						t.Errorf("the log holds the %s: %.300s", name, l)
						break
					}
				}
			}
			t.Logf("%d secrets checked against %d log lines and %d spans", len(secrets), len(logs), len(sr.Ended()))
			for _, s := range sr.Ended() {
				var parts []string
				parts = append(parts, s.Name(), s.Status().Description)
				for _, a := range s.Attributes() {
					parts = append(parts, string(a.Key)+"="+a.Value.String())
				}
				for _, ev := range s.Events() {
					for _, a := range ev.Attributes {
						parts = append(parts, string(a.Key)+"="+a.Value.String())
					}
				}
				all := strings.Join(parts, " ")
				for name, v := range secrets {
					if strings.Contains(all, v) {
						t.Errorf("span %q holds the %s: %.300s", s.Name(), name, all)
					}
				}
			}
		})
	}
}
