package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/federation/azuread"
	"github.com/optibid/idp/federation/google"
	"github.com/optibid/idp/federation/oidc"
	"github.com/optibid/idp/federation/oidc/oidctest"
	"github.com/optibid/idp/federation/okta"
)

var ctx = context.Background()

// claims makes the upstream sign c (nonce "n1" unless c says otherwise).
func claims(u *oidctest.Server, extra map[string]any) {
	u.Set(func(s *oidctest.Server) {
		s.Claims = func(string) map[string]any { return s.Good("n1", extra) }
	})
}

func generic(t *testing.T, u *oidctest.Server) *oidc.Connector {
	c, err := oidc.New(oidc.Config{Issuer: u.Issuer, ClientID: u.ClientID, ClientSecret: u.ClientSecret, RedirectURL: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExchangeVerifies(t *testing.T) {
	u := oidctest.New(t)
	c := generic(t, u)
	authURL, err := c.AuthURL(ctx, federation.Request{State: "st", Nonce: "n1", CodeChallenge: "ch", LoginHint: "ada@acme.example"})
	if err != nil || !strings.HasPrefix(authURL, u.URL+"/authorize?") {
		t.Fatalf("auth url %q %v", authURL, err)
	}
	for _, want := range []string{"state=st", "nonce=n1", "code_challenge=ch", "code_challenge_method=S256", "login_hint=ada%40acme.example", "client_id=rp"} {
		if !strings.Contains(authURL, want) {
			t.Errorf("auth url lacks %s", want)
		}
	}
	claims(u, nil)
	id, err := c.Exchange(ctx, "good-code", "verifier", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != u.Issuer || id.Subject != "user-1" || id.Email != "ada@acme.example" || !id.EmailVerified || id.Groups[0] != "idp-admins" || id.AMR[1] != "mfa" {
		t.Fatalf("identity %+v", id)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := map[string]func(){
		"bad signature": func() { claims(u, nil); u.Set(func(s *oidctest.Server) { s.SignWith = other }) },
		"wrong issuer": func() {
			u.Set(func(s *oidctest.Server) { s.SignWith = nil })
			claims(u, map[string]any{"iss": "https://evil.example"})
		},
		"wrong aud":     func() { claims(u, map[string]any{"aud": "someone-else"}) },
		"wrong nonce":   func() { claims(u, map[string]any{"nonce": "other"}) },
		"no nonce":      func() { claims(u, map[string]any{"nonce": nil}) },
		"expired":       func() { claims(u, map[string]any{"exp": time.Now().Add(-10 * time.Minute).Unix()}) },
		"multi-aud azp": func() { claims(u, map[string]any{"aud": []string{"rp", "other"}}) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			f()
			if _, err := c.Exchange(ctx, "good-code", "verifier", "n1"); !errors.Is(err, federation.ErrInvalidToken) {
				t.Fatalf("want ErrInvalidToken, got %v", err)
			}
		})
	}
	claims(u, nil)
	if _, err := c.Exchange(ctx, "bad-code", "verifier", "n1"); !errors.Is(err, federation.ErrInvalidToken) {
		t.Fatalf("refused code: %v", err)
	}
	u.Set(func(s *oidctest.Server) { s.Status = http.StatusInternalServerError })
	if _, err := c.Exchange(ctx, "good-code", "verifier", "n1"); !errors.Is(err, federation.ErrUpstream) {
		t.Fatalf("upstream 500: %v", err)
	}
}

func TestUserinfoFallback(t *testing.T) {
	u := oidctest.New(t)
	c := generic(t, u)
	claims(u, map[string]any{"email": nil, "email_verified": nil, "name": nil})
	u.Set(func(s *oidctest.Server) {
		s.Userinfo = map[string]any{"sub": "user-1", "email": "ada@acme.example", "email_verified": true, "name": "Ada From Userinfo"}
	})
	id, err := c.Exchange(ctx, "good-code", "v", "n1")
	if err != nil || id.Email != "ada@acme.example" || !id.EmailVerified || id.Name != "Ada From Userinfo" {
		t.Fatalf("%+v %v", id, err)
	}
	u.Set(func(s *oidctest.Server) {
		s.Userinfo = map[string]any{"sub": "someone-else", "email": "evil@x.example"}
	})
	if id, _ := c.Exchange(ctx, "good-code", "v", "n1"); id.Email != "" {
		t.Fatal("userinfo of another subject used")
	}
}

func TestGoogleHostedDomain(t *testing.T) {
	u := oidctest.New(t)
	c, _ := google.New(google.Config{ClientID: u.ClientID, HostedDomain: "acme.example", Issuer: u.Issuer}, u.ClientSecret, "http://127.0.0.1/cb", nil)
	claims(u, map[string]any{"hd": "acme.example"})
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); err != nil {
		t.Fatal(err)
	}
	// An acme.example email without the hd claim (a consumer account) is refused.
	claims(u, map[string]any{"email": "ada@acme.example"})
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrNotAllowed) {
		t.Fatalf("no hd: %v", err)
	}
	claims(u, map[string]any{"hd": "evil.example"})
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrNotAllowed) {
		t.Fatalf("other hd: %v", err)
	}
	if url, _ := c.AuthURL(ctx, federation.Request{State: "s", Nonce: "n"}); !strings.Contains(url, "hd=acme.example") {
		t.Fatal("hd hint missing")
	}
}

const tenant = "11111111-2222-3333-4444-555555555555"

func TestAzureMultiTenant(t *testing.T) {
	u := oidctest.New(t)
	u.Set(func(s *oidctest.Server) { s.Issuer = s.URL + "/{tenantid}/v2.0" }) // what Microsoft's organizations endpoint announces
	c, err := azuread.New(azuread.Config{Tenant: "organizations", AllowedTenants: []string{tenant}, ClientID: u.ClientID, BaseURL: u.URL},
		u.ClientSecret, "http://127.0.0.1/cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	azure := func(tid string, extra map[string]any) {
		m := map[string]any{"iss": u.URL + "/" + tid + "/v2.0", "tid": tid, "oid": "object-9", "email": "ada@acme.example", "email_verified": nil}
		for k, v := range extra {
			m[k] = v
		}
		claims(u, m)
	}
	azure(tenant, nil)
	id, err := c.Exchange(ctx, "good-code", "v", "n1")
	if err != nil || id.Subject != tenant+":object-9" || id.EmailVerified {
		t.Fatalf("%+v %v (subject must be tid:oid, email never verified)", id, err)
	}
	azure("99999999-2222-3333-4444-555555555555", nil)
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrNotAllowed) {
		t.Fatalf("foreign tenant: %v", err)
	}
	azure(tenant, map[string]any{"iss": u.URL + "/99999999-2222-3333-4444-555555555555/v2.0"})
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrInvalidToken) {
		t.Fatalf("issuer/tid mismatch: %v", err)
	}
	if _, err := azuread.New(azuread.Config{Tenant: "common", ClientID: "rp"}, "s", "x", nil); err == nil {
		t.Fatal("multi-tenant without an allow-list accepted")
	}
}

func TestOktaIssuers(t *testing.T) {
	if got := (okta.Config{Domain: "acme.okta.com"}).IssuerURL(); got != "https://acme.okta.com" {
		t.Fatal(got)
	}
	if got := (okta.Config{Domain: "acme.okta.com", AuthorizationServer: "default"}).IssuerURL(); got != "https://acme.okta.com/oauth2/default" {
		t.Fatal(got)
	}
}

// F8: an upstream that refuses connections or hangs fails fast, bounded
// by the client timeout.
func TestUpstreamDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c, _ := oidc.New(oidc.Config{Issuer: "http://" + addr, ClientID: "rp", RedirectURL: "http://127.0.0.1/cb"})
	if _, err := c.AuthURL(ctx, federation.Request{}); !errors.Is(err, federation.ErrUpstream) {
		t.Fatalf("refused: %v", err)
	}
	u := oidctest.New(t)
	c, _ = oidc.New(oidc.Config{Issuer: u.Issuer, ClientID: u.ClientID, ClientSecret: u.ClientSecret, RedirectURL: "http://127.0.0.1/cb",
		HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}})
	claims(u, nil)
	u.Set(func(s *oidctest.Server) { s.Delay = 2 * time.Second })
	start := time.Now()
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrUpstream) || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("slow upstream: %v after %v", err, time.Since(start))
	}
}
