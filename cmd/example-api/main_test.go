package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/optibid/idp/apiauth"
	"github.com/optibid/idp/apiauth/apiauthtest"
)

func TestRoutes(t *testing.T) {
	const audience = "https://api.optibid.example/trading"
	iss := apiauthtest.NewIssuer(t)
	v, err := apiauth.New(context.Background(), apiauth.Config{Issuer: iss.URL, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	h := routes(v)
	token := func(scope string, permissions, features []string) string {
		c := iss.Claims("user-1", audience)
		c["scope"] = scope
		c["org"] = map[string]any{"id": "o1", "slug": "acme", "name": "Acme Energy", "role": "trader"}
		c["permissions"] = permissions
		c["entitlements"] = map[string]any{"features": features, "config": map[string]any{"bids.auto": map[string]any{"max_orders": 50}}}
		return iss.Sign(c)
	}
	trader := token("bids:read bids:submit", []string{"bids:read", "bids:submit"}, []string{"bids.auto"})

	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"list", "GET", "/bids", trader, http.StatusOK},
		{"list without token", "GET", "/bids", "", http.StatusUnauthorized},
		{"list for another API", "GET", "/bids", iss.Sign(iss.Claims("user-1", "https://api.optibid.example/billing")), http.StatusUnauthorized},
		{"list without scope", "GET", "/bids", token("bids:submit", []string{"bids:read"}, nil), http.StatusForbidden},
		{"submit", "POST", "/bids", trader, http.StatusCreated},
		{"submit as viewer", "POST", "/bids", token("bids:submit", []string{"bids:read"}, nil), http.StatusForbidden},
		{"auto", "POST", "/bids/auto", trader, http.StatusAccepted},
		{"auto without feature", "POST", "/bids/auto", token("bids:submit", []string{"bids:submit"}, nil), http.StatusForbidden},
		{"unknown route", "GET", "/nope", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if rec.Code >= 300 {
				return
			}
			var body struct {
				Caller    map[string]string `json:"caller"`
				MaxOrders any               `json:"max_orders"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"sub": "user-1", "org": "acme", "client_id": "test-client"}
			for k, v := range want {
				if body.Caller[k] != v {
					t.Fatalf("caller = %v, want %v", body.Caller, want)
				}
			}
			if tt.path == "/bids/auto" && body.MaxOrders != float64(50) {
				t.Fatalf("max_orders = %v, want 50", body.MaxOrders)
			}
		})
	}
}
