package apiauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/optibid/idp/apiauth"
	"github.com/optibid/idp/apiauth/apiauthtest"
)

func TestMiddleware(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, nil)
	token := func(extra map[string]any) string { return iss.Sign(merge(iss.Claims("user-1", audience), extra)) }
	full := token(map[string]any{
		"scope":        "bids:read bids:submit",
		"permissions":  []string{"bids:submit"},
		"entitlements": map[string]any{"features": []string{"bids.auto"}},
	})
	realm := `Bearer realm="` + audience + `"`

	protected := v.Middleware(okHandler())
	scoped := v.RequireScope("bids:submit")(okHandler()) // no Middleware before it
	stacked := v.Middleware(v.RequireScope("bids:submit")(v.RequirePermission("bids:submit")(v.RequireFeature("bids.auto")(okHandler()))))

	tests := []struct {
		name      string
		handler   http.Handler
		header    []string // Authorization values
		status    int
		challenge string
		code      string // JSON error
	}{
		{"no header", protected, nil, 401, realm, "unauthorized"},
		{"other scheme", protected, []string{"Basic dTpw"}, 401, realm, "unauthorized"},
		{"empty bearer", protected, []string{"Bearer "}, 400, realm + `, error="invalid_request"`, "invalid_request"},
		{"two headers", protected, []string{"Bearer " + full, "Bearer " + full}, 400, realm + `, error="invalid_request"`, "invalid_request"},
		{"garbage", protected, []string{"Bearer not.a.jwt"}, 401, realm + `, error="invalid_token"`, "invalid_token"},
		{"expired", protected, []string{"Bearer " + token(map[string]any{"exp": clk.Now().Add(-time.Hour).Unix()})}, 401, realm + `, error="invalid_token"`, "invalid_token"},
		{"valid", protected, []string{"Bearer " + full}, 200, "", ""},
		{"scheme in lower case", protected, []string{"bearer " + full}, 200, "", ""},
		{"scheme in upper case", protected, []string{"BEARER " + full}, 200, "", ""},
		{"scope present", scoped, []string{"Bearer " + full}, 200, "", ""},
		{"scope without Middleware, no token", scoped, nil, 401, realm, "unauthorized"},
		{"scope missing", scoped, []string{"Bearer " + token(map[string]any{"scope": "bids:read"})}, 403,
			realm + `, error="insufficient_scope", scope="bids:submit"`, "insufficient_scope"},
		{"all present", stacked, []string{"Bearer " + full}, 200, "", ""},
		{"permission missing", stacked, []string{"Bearer " + token(map[string]any{
			"scope": "bids:submit", "entitlements": map[string]any{"features": []string{"bids.auto"}},
		})}, 403, "", "insufficient_permission"},
		{"feature missing", stacked, []string{"Bearer " + token(map[string]any{
			"scope": "bids:submit", "permissions": []string{"bids:submit"},
		})}, 403, "", "feature_not_enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/bids", nil)
			for _, h := range tt.header {
				req.Header.Add("Authorization", h)
			}
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.status == 200 {
				if rec.Body.String() != "user-1" {
					t.Fatalf("handler saw subject %q", rec.Body)
				}
				return
			}
			checkBody(t, rec, tt.code)
		})
	}
}

// checkBody checks a JSON error: the code, and a description from a fixed
// set, never an error's text.
func checkBody(t *testing.T, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	fixed := []string{
		"This API requires an access token.",
		"The Authorization header is malformed.",
		"The access token is invalid or has expired.",
		"Access tokens cannot be verified right now. Retry later.",
		`The access token lacks the scope "bids:submit".`,
		`Your role does not grant the permission "bids:submit".`,
		`Your organization does not have the feature "bids.auto".`,
	}
	if body["error"] != code || !slices.Contains(fixed, body["error_description"]) || len(body) != 2 {
		t.Fatalf("body = %v, want error %q and a fixed description", body, code)
	}
}

// okHandler answers 200 with the verified token's subject.
func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := apiauth.FromContext(r.Context())
		if !ok {
			http.Error(w, "no token in context", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(tok.Subject))
	})
}

func serve(h http.Handler, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProtect(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	protect, err := apiauth.Protect(context.Background(), iss.URL, audience)
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(protect(okHandler()), iss.Sign(iss.Claims("user-1", audience))); rec.Code != 200 {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if rec := serve(protect(okHandler()), iss.Sign(iss.Claims("user-1", "https://api.optibid.example/other"))); rec.Code != 401 {
		t.Fatalf("status = %d, want 401", rec.Code)
	}
}
