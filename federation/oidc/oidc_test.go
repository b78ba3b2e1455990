package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/federation/azuread"
	"github.com/optibid/idp/federation/google"
	"github.com/optibid/idp/federation/oidc"
	"github.com/optibid/idp/federation/okta"
)

// upstream is a small but real OpenID Provider on loopback: discovery,
// JWKS, a token endpoint that signs whatever claims the test sets, and
// userinfo.
type upstream struct {
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	mu       sync.Mutex
	issuer   string         // what discovery announces
	claims   map[string]any // of the next ID token
	userinfo map[string]any
	status   int           // token endpoint status (0: 200)
	delay    time.Duration // before answering the token endpoint
	signWith *ecdsa.PrivateKey
}

func newUpstream(t *testing.T) *upstream {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u := &upstream{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			json.NewEncoder(w).Encode(map[string]string{"issuer": u.get().issuer, "authorization_endpoint": u.srv.URL + "/authorize",
				"token_endpoint": u.srv.URL + "/token", "jwks_uri": u.srv.URL + "/keys", "userinfo_endpoint": u.srv.URL + "/userinfo"})
		case r.URL.Path == "/keys":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		case r.URL.Path == "/token":
			s := u.get()
			time.Sleep(s.delay)
			r.ParseForm()
			if s.status != 0 {
				w.WriteHeader(s.status)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
				return
			}
			if r.PostForm.Get("code") != "good-code" || r.PostForm.Get("code_verifier") == "" {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
				return
			}
			signer := key
			if s.signWith != nil {
				signer = s.signWith
			}
			sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: signer, KeyID: "k1"}}, nil)
			payload, _ := json.Marshal(s.claims)
			jws, _ := sig.Sign(payload)
			idt, _ := jws.CompactSerialize()
			json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": idt})
		case r.URL.Path == "/userinfo":
			if r.Header.Get("Authorization") != "Bearer at" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(u.get().userinfo)
		default:
			http.NotFound(w, r)
		}
	})
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	u.issuer = u.srv.URL
	return u
}

func (u *upstream) get() upstream {
	u.mu.Lock()
	defer u.mu.Unlock()
	return upstream{issuer: u.issuer, claims: u.claims, userinfo: u.userinfo, status: u.status, delay: u.delay, signWith: u.signWith}
}

func (u *upstream) set(f func(*upstream)) { u.mu.Lock(); f(u); u.mu.Unlock() }

// token claims that verify for client "rp" and nonce "n1".
func (u *upstream) good(extra map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{"iss": u.issuer, "sub": "user-1", "aud": "rp", "exp": now + 300, "iat": now, "nonce": "n1",
		"email": "Ada@Acme.example", "email_verified": true, "name": "Ada", "groups": []string{"idp-admins"}, "amr": []string{"pwd", "mfa"}}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

var ctx = context.Background()

func generic(t *testing.T, u *upstream) *oidc.Connector {
	c, err := oidc.New(oidc.Config{Issuer: u.issuer, ClientID: "rp", ClientSecret: "s", RedirectURL: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExchangeVerifies(t *testing.T) {
	u := newUpstream(t)
	c := generic(t, u)
	authURL, err := c.AuthURL(ctx, federation.Request{State: "st", Nonce: "n1", CodeChallenge: "ch", LoginHint: "ada@acme.example"})
	if err != nil || !strings.HasPrefix(authURL, u.srv.URL+"/authorize?") {
		t.Fatalf("auth url %q %v", authURL, err)
	}
	for _, want := range []string{"state=st", "nonce=n1", "code_challenge=ch", "code_challenge_method=S256", "login_hint=ada%40acme.example", "client_id=rp"} {
		if !strings.Contains(authURL, want) {
			t.Errorf("auth url lacks %s", want)
		}
	}
	u.set(func(u *upstream) { u.claims = u.good(nil) })
	id, err := c.Exchange(ctx, "good-code", "verifier", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != u.issuer || id.Subject != "user-1" || id.Email != "ada@acme.example" || !id.EmailVerified || id.Groups[0] != "idp-admins" || id.AMR[1] != "mfa" {
		t.Fatalf("identity %+v", id)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := map[string]func(*upstream){
		"bad signature": func(u *upstream) { u.claims, u.signWith = u.good(nil), other },
		"wrong issuer":  func(u *upstream) { u.claims, u.signWith = u.good(map[string]any{"iss": "https://evil.example"}), nil },
		"wrong aud":     func(u *upstream) { u.claims = u.good(map[string]any{"aud": "someone-else"}) },
		"wrong nonce":   func(u *upstream) { u.claims = u.good(map[string]any{"nonce": "other"}) },
		"no nonce":      func(u *upstream) { u.claims = u.good(map[string]any{"nonce": nil}) },
		"expired":       func(u *upstream) { u.claims = u.good(map[string]any{"exp": time.Now().Add(-10 * time.Minute).Unix()}) },
		"multi-aud azp": func(u *upstream) { u.claims = u.good(map[string]any{"aud": []string{"rp", "other"}}) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			u.set(f)
			if _, err := c.Exchange(ctx, "good-code", "verifier", "n1"); !errors.Is(err, federation.ErrInvalidToken) {
				t.Fatalf("want ErrInvalidToken, got %v", err)
			}
		})
	}
	u.set(func(u *upstream) { u.claims, u.status = u.good(nil), 0 })
	if _, err := c.Exchange(ctx, "bad-code", "verifier", "n1"); !errors.Is(err, federation.ErrInvalidToken) {
		t.Fatalf("refused code: %v", err)
	}
}

func TestUserinfoFallback(t *testing.T) {
	u := newUpstream(t)
	c := generic(t, u)
	u.set(func(u *upstream) {
		u.claims = u.good(map[string]any{"email": nil, "email_verified": nil, "name": nil})
		u.userinfo = map[string]any{"sub": "user-1", "email": "ada@acme.example", "email_verified": true, "name": "Ada From Userinfo"}
	})
	id, err := c.Exchange(ctx, "good-code", "v", "n1")
	if err != nil || id.Email != "ada@acme.example" || !id.EmailVerified || id.Name != "Ada From Userinfo" {
		t.Fatalf("%+v %v", id, err)
	}
	u.set(func(u *upstream) { u.userinfo = map[string]any{"sub": "someone-else", "email": "evil@x.example"} })
	if id, _ := c.Exchange(ctx, "good-code", "v", "n1"); id.Email != "" {
		t.Fatal("userinfo of another subject used")
	}
}

func TestGoogleHostedDomain(t *testing.T) {
	u := newUpstream(t)
	c, _ := google.New(google.Config{ClientID: "rp", HostedDomain: "acme.example", Issuer: u.issuer}, "s", "http://127.0.0.1/cb", nil)
	u.set(func(u *upstream) { u.claims = u.good(map[string]any{"hd": "acme.example"}) })
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); err != nil {
		t.Fatal(err)
	}
	// An acme.example email without the hd claim (a consumer account) is refused.
	u.set(func(u *upstream) { u.claims = u.good(map[string]any{"email": "ada@acme.example"}) })
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrNotAllowed) {
		t.Fatalf("no hd: %v", err)
	}
	u.set(func(u *upstream) { u.claims = u.good(map[string]any{"hd": "evil.example"}) })
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrNotAllowed) {
		t.Fatalf("other hd: %v", err)
	}
	if url, _ := c.AuthURL(ctx, federation.Request{State: "s", Nonce: "n"}); !strings.Contains(url, "hd=acme.example") {
		t.Fatal("hd hint missing")
	}
}

func TestAzureMultiTenant(t *testing.T) {
	u := newUpstream(t)
	const tenant = "11111111-2222-3333-4444-555555555555"
	u.set(func(u *upstream) { u.issuer = u.srv.URL + "/{tenantid}/v2.0" }) // what Microsoft's organizations endpoint announces
	c, err := azuread.New(azuread.Config{Tenant: "organizations", AllowedTenants: []string{tenant}, ClientID: "rp", BaseURL: u.srv.URL}, "s", "http://127.0.0.1/cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(tid string, extra map[string]any) map[string]any {
		m := u.good(map[string]any{"iss": u.srv.URL + "/" + tid + "/v2.0", "tid": tid, "oid": "object-9", "email": "ada@acme.example", "email_verified": nil})
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	u.set(func(u *upstream) { u.claims = claims(tenant, nil) })
	id, err := c.Exchange(ctx, "good-code", "v", "n1")
	if err != nil || id.Subject != tenant+":object-9" || id.EmailVerified {
		t.Fatalf("%+v %v (subject must be tid:oid, email never verified)", id, err)
	}
	u.set(func(u *upstream) { u.claims = claims("99999999-2222-3333-4444-555555555555", nil) })
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrNotAllowed) {
		t.Fatalf("foreign tenant: %v", err)
	}
	// A token whose issuer names another tenant than its tid.
	u.set(func(u *upstream) {
		u.claims = claims(tenant, map[string]any{"iss": u.srv.URL + "/99999999-2222-3333-4444-555555555555/v2.0"})
	})
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
	u := newUpstream(t)
	c, _ = oidc.New(oidc.Config{Issuer: u.issuer, ClientID: "rp", RedirectURL: "http://127.0.0.1/cb", HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}})
	u.set(func(u *upstream) { u.claims, u.delay = u.good(nil), 2*time.Second })
	start := time.Now()
	if _, err := c.Exchange(ctx, "good-code", "v", "n1"); !errors.Is(err, federation.ErrUpstream) || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("slow upstream: %v after %v", err, time.Since(start))
	}
}
