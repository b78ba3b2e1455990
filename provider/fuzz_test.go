package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// fuzzHandler is one in-memory provider, served without a network.
func fuzzHandler(f *testing.F) http.Handler {
	f.Helper()
	a, err := app.New(context.Background(), apptest.Config("http://127.0.0.1:1", "memory", ""), app.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Close)
	return a.Handler
}

func checkResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %.200s", rec.Code, rec.Body.String())
	}
	if apptest.Leaks(rec.Body.String()) {
		t.Fatalf("internal detail leaked: %.200s", rec.Body.String())
	}
	if loc := rec.Header().Get("Location"); strings.ContainsAny(loc, "\r\n") || strings.HasPrefix(strings.ToLower(loc), "javascript:") {
		t.Fatalf("bad Location %q", loc)
	}
}

// FuzzAuthorize throws arbitrary query strings at /authorize.
func FuzzAuthorize(f *testing.F) {
	h := fuzzHandler(f)
	for _, seed := range []string{
		"client_id=web&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code&scope=openid&state=x",
		"client_id=web&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code&scope=openid&max_age=-1",
		"client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&code_challenge=x&code_challenge_method=plain",
		"client_id=web&client_id=web&redirect_uri=%00", "prompt=none%20login&id_token_hint=a.b.c", "%zz=%zz", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/authorize", nil)
		req.URL.RawQuery = q
		h.ServeHTTP(rec, req)
		checkResponse(t, rec)
	})
}

// FuzzToken throws arbitrary form bodies at the token endpoint, with and
// without client authentication.
func FuzzToken(f *testing.F) {
	h := fuzzHandler(f)
	for _, seed := range []string{
		"grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Frp.example%2Fcb&code_verifier=x",
		"grant_type=refresh_token&refresh_token=abc&scope=openid%20admin",
		"grant_type=client_credentials&scope=market%3Aview",
		"grant_type=password&username=a&password=b", "grant_type=%ff&%00=%00", "client_id=web&client_secret=x&grant_type=",
	} {
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, auth bool) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			req.SetBasicAuth("web", apptest.WebSecret)
		}
		h.ServeHTTP(rec, req)
		checkResponse(t, rec)
		if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("non-JSON error: %s", rec.Body.String())
		}
	})
}
