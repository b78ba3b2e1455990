package apiauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/optibid/idp/apiauth"
	"github.com/optibid/idp/apiauth/apiauthtest"
)

const audience = "https://api.optibid.example/trading"

// clock is an injectable, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newVerifier builds a Verifier for iss with the clock, after edit.
func newVerifier(t testing.TB, iss *apiauthtest.Issuer, clk *clock, edit func(*apiauth.Config)) *apiauth.Verifier {
	t.Helper()
	cfg := apiauth.Config{Issuer: iss.URL, Audience: audience, Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	v, err := apiauth.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestVerifyValid(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, nil)
	for _, alg := range []string{"ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			c := iss.Claims("user-1", audience)
			c["aud"] = []string{"https://api.optibid.example/other", audience}
			c["scope"] = "openid bids:read  bids:submit"
			c["auth_time"] = clk.Now().Add(-time.Hour).Unix()
			c["acr"] = "urn:optibid:mfa"
			c["amr"] = []string{"pwd", "otp"}
			c["act"] = map[string]any{"sub": "svc-gateway"}
			c["org"] = map[string]any{"id": "o1", "slug": "acme", "name": "Acme Energy", "role": "trader"}
			c["permissions"] = []string{"bids:read", "bids:submit"}
			c["entitlements"] = map[string]any{
				"features": []string{"bids.auto", "market.view"},
				"config":   map[string]any{"bids.auto": map[string]any{"max_orders": 50}},
			}
			tok, err := v.Verify(context.Background(), iss.SignWith(apiauthtest.Header{Alg: alg}, c))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checks := []struct {
				name      string
				got, want any
			}{
				{"Subject", tok.Subject, "user-1"},
				{"Issuer", tok.Issuer, iss.URL},
				{"ClientID", tok.ClientID, "test-client"},
				{"JWTID", tok.JWTID, c["jti"]},
				{"Scopes", tok.Scopes, []string{"openid", "bids:read", "bids:submit"}},
				{"Audience", tok.Audience, []string{"https://api.optibid.example/other", audience}},
				{"Expiry", tok.Expiry.Unix(), c["exp"]},
				{"IssuedAt", tok.IssuedAt.Unix(), c["iat"]},
				{"AuthTime", tok.AuthTime.Unix(), c["auth_time"]},
				{"NotBefore zero", tok.NotBefore.IsZero(), true},
				{"ACR", tok.ACR, "urn:optibid:mfa"},
				{"AMR", tok.AMR, []string{"pwd", "otp"}},
				{"Actor", tok.Actor, "svc-gateway"},
				{"Org", tok.Org, apiauth.Org{ID: "o1", Slug: "acme", Name: "Acme Energy", Role: "trader"}},
				{"Permissions", tok.Permissions, []string{"bids:read", "bids:submit"}},
				{"Features", tok.Features, []string{"bids.auto", "market.view"}},
				{"max_orders", tok.FeatureConfig["bids.auto"]["max_orders"], float64(50)},
				{"Claims[acr]", tok.Claims["acr"], "urn:optibid:mfa"},
				{"HasScope", tok.HasScope("bids:submit"), true},
				{"HasScope absent", tok.HasScope("bids"), false},
				{"HasPermission", tok.HasPermission("bids:read"), true},
				{"HasFeature", tok.HasFeature("bids.auto"), true},
				{"HasFeature absent", tok.HasFeature("bids"), false},
			}
			for _, ch := range checks {
				if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
					t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
				}
			}
		})
	}
}

// TestVerifyClaims covers every claim and header check, each alone on an
// otherwise valid token.
func TestVerifyClaims(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, nil) // leeway 30s
	now := clk.Now()
	tests := []struct {
		name   string
		header apiauthtest.Header
		edit   func(map[string]any)
		want   error // nil: accepted
	}{
		{"valid", apiauthtest.Header{}, nil, nil},
		{"aud array containing ours", apiauthtest.Header{}, func(c map[string]any) { c["aud"] = []string{"x:y", audience} }, nil},
		{"wrong aud", apiauthtest.Header{}, func(c map[string]any) { c["aud"] = "https://api.optibid.example/billing" }, apiauth.ErrWrongAudience},
		{"aud array without ours", apiauthtest.Header{}, func(c map[string]any) { c["aud"] = []string{"a:b", "c:d"} }, apiauth.ErrWrongAudience},
		{"aud prefix of ours", apiauthtest.Header{}, func(c map[string]any) { c["aud"] = "https://api.optibid.example" }, apiauth.ErrWrongAudience},
		{"no aud", apiauthtest.Header{}, func(c map[string]any) { delete(c, "aud") }, apiauth.ErrWrongAudience},
		{"aud a number", apiauthtest.Header{}, func(c map[string]any) { c["aud"] = 7 }, apiauth.ErrInvalidToken},
		{"wrong iss", apiauthtest.Header{}, func(c map[string]any) { c["iss"] = "https://evil.example" }, apiauth.ErrWrongIssuer},
		{"iss with trailing slash", apiauthtest.Header{}, func(c map[string]any) { c["iss"] = iss.URL + "/" }, apiauth.ErrWrongIssuer},
		{"expired beyond leeway", apiauthtest.Header{}, func(c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() }, apiauth.ErrExpired},
		{"expired within leeway", apiauthtest.Header{}, func(c map[string]any) { c["exp"] = now.Add(-29 * time.Second).Unix() }, nil},
		{"nbf beyond leeway", apiauthtest.Header{}, func(c map[string]any) { c["nbf"] = now.Add(31 * time.Second).Unix() }, apiauth.ErrNotYetValid},
		{"nbf within leeway", apiauthtest.Header{}, func(c map[string]any) { c["nbf"] = now.Add(29 * time.Second).Unix() }, nil},
		{"iat in the future", apiauthtest.Header{}, func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }, apiauth.ErrNotYetValid},
		{"exp not a number", apiauthtest.Header{}, func(c map[string]any) { c["exp"] = "tomorrow" }, apiauth.ErrInvalidToken},
		{"no exp", apiauthtest.Header{}, func(c map[string]any) { delete(c, "exp") }, apiauth.ErrInvalidToken},
		{"no iat", apiauthtest.Header{}, func(c map[string]any) { delete(c, "iat") }, apiauth.ErrInvalidToken},
		{"no sub", apiauthtest.Header{}, func(c map[string]any) { delete(c, "sub") }, apiauth.ErrInvalidToken},
		{"no client_id", apiauthtest.Header{}, func(c map[string]any) { delete(c, "client_id") }, apiauth.ErrInvalidToken},
		{"no jti", apiauthtest.Header{}, func(c map[string]any) { delete(c, "jti") }, apiauth.ErrInvalidToken},
		{"org not an object", apiauthtest.Header{}, func(c map[string]any) { c["org"] = "acme" }, apiauth.ErrInvalidToken},
		{"typ JWT (an ID token)", apiauthtest.Header{Typ: "JWT"}, nil, apiauth.ErrInvalidToken},
		{"no typ", apiauthtest.Header{OmitTyp: true}, nil, apiauth.ErrInvalidToken},
		{"typ application/at+jwt", apiauthtest.Header{Typ: "application/at+jwt"}, nil, nil},
		{"typ AT+JWT", apiauthtest.Header{Typ: "AT+JWT"}, nil, nil},
		{"typ at+jwt+x", apiauthtest.Header{Typ: "at+jwtx"}, nil, apiauth.ErrInvalidToken},
		{"RS256", apiauthtest.Header{Alg: "RS256"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := iss.Claims("user-1", audience)
			if tt.edit != nil {
				tt.edit(c)
			}
			_, err := v.Verify(context.Background(), iss.SignWith(tt.header, c))
			checkErr(t, err, tt.want)
		})
	}
}

// checkErr fails unless err matches want (nil: no error), and unless every
// rejection is an ErrInvalidToken.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("err = %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("err = %v, want %v", err, want)
	case want != nil && !errors.Is(want, apiauth.ErrUnavailable) && !errors.Is(err, apiauth.ErrInvalidToken):
		t.Fatalf("err = %v does not match ErrInvalidToken", err)
	case err != nil && errors.Is(want, apiauth.ErrInvalidToken) && errors.Is(err, apiauth.ErrUnavailable):
		t.Fatalf("err = %v matches ErrUnavailable too", err)
	}
}

func TestVerifyForgeries(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, nil)
	claims := iss.Claims("user-1", audience)
	valid := iss.Sign(claims)
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	parts := strings.Split(valid, ".")
	b64 := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	forged := merge(claims, map[string]any{"sub": "admin"})

	// An HMAC keyed with the issuer's RSA public key, as a confused
	// library would check it.
	der, err := x509.MarshalPKIXPublicKey(iss.PublicKey(iss.KeyID("RS256")))
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs256 := func(key []byte) string {
		return sign(t, jose.HS256, key, iss.KeyID("RS256"), forged)
	}
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(valid, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	jsonSerialized := jws.FullSerialize()

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": iss.KeyID("ES256")}) + "." + b64(forged) + "."},
		{"alg none with the valid signature", b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": iss.KeyID("ES256")}) + "." + parts[1] + "." + parts[2]},
		{"HS256 keyed with the RSA public key PEM", hs256(pemKey)},
		{"HS256 keyed with the RSA public key DER", hs256(der)},
		{"attacker key, issuer kid", sign(t, jose.ES256, attacker, iss.KeyID("ES256"), forged)},
		{"ES256 header on the RSA kid", sign(t, jose.ES256, attacker, iss.KeyID("RS256"), forged)},
		{"tampered payload", parts[0] + "." + b64(forged) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2])},
		{"no signature", parts[0] + "." + parts[1] + "."},
		{"JWS JSON serialization", jsonSerialized},
		{"no kid", sign(t, jose.ES256, attacker, "", forged)},
		{"two parts", parts[0] + "." + parts[1]},
		{"empty", ""},
		{"oversized", strings.Repeat("a", 64<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := v.Verify(context.Background(), tt.token)
			checkErr(t, err, apiauth.ErrInvalidToken)
			if tok != nil {
				t.Fatalf("got a token with an error: %+v", tok)
			}
		})
	}

	t.Run("algorithm not configured", func(t *testing.T) {
		esOnly := newVerifier(t, iss, clk, func(c *apiauth.Config) { c.Algorithms = []string{"ES256"} })
		_, err := esOnly.Verify(context.Background(), iss.SignWith(apiauthtest.Header{Alg: "RS256"}, iss.Claims("u", audience)))
		checkErr(t, err, apiauth.ErrInvalidToken)
	})
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func merge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestKeyRotation(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, nil)
	if n := iss.JWKSFetches(); n != 1 {
		t.Fatalf("JWKS fetches after New = %d, want 1", n)
	}
	old := iss.Sign(iss.Claims("u", audience))
	iss.RotateKey("ES256")
	fresh := iss.Sign(iss.Claims("u", audience))

	// Within the refresh interval of New's fetch the new kid is unknown.
	_, err := v.Verify(context.Background(), fresh)
	checkErr(t, err, apiauth.ErrInvalidToken)
	if n := iss.JWKSFetches(); n != 1 {
		t.Fatalf("JWKS fetches within the interval = %d, want 1", n)
	}

	clk.Advance(apiauth.DefaultJWKSRefreshMinInterval)
	for range 3 {
		if _, err := v.Verify(context.Background(), fresh); err != nil {
			t.Fatalf("token of the rotated key: %v", err)
		}
	}
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetches after rotation = %d, want 2", n)
	}
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatalf("token of the old, still published key: %v", err)
	}

	// The refetch is shared: the request that started it going away does
	// not make it fail for the others.
	iss.RotateKey("ES256")
	clk.Advance(apiauth.DefaultJWKSRefreshMinInterval)
	rotated := iss.Sign(iss.Claims("u", audience))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(gone, rotated); err != nil && !errors.Is(err, apiauth.ErrUnavailable) {
		t.Fatalf("cancelled request: %v, want ErrUnavailable or success", err)
	}
	if _, err := v.Verify(context.Background(), rotated); err != nil {
		t.Fatalf("after a cancelled request started the refetch: %v", err)
	}
	if n := iss.JWKSFetches(); n != 3 {
		t.Fatalf("JWKS fetches = %d, want 3", n)
	}
}

func TestUnknownKidFlood(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, nil)
	flood := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 100)
		for n := range errs {
			tok := iss.SignWith(apiauthtest.Header{KeyID: fmt.Sprintf("ghost-%d-%d", round, n)}, iss.Claims("u", audience))
			wg.Go(func() { _, errs[n] = v.Verify(context.Background(), tok) })
		}
		wg.Wait()
		for _, err := range errs {
			checkErr(t, err, apiauth.ErrInvalidToken)
		}
	}
	clk.Advance(apiauth.DefaultJWKSRefreshMinInterval)
	flood(1)
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetches after a flood = %d, want 2 (New's and one refetch)", n)
	}
	clk.Advance(apiauth.DefaultJWKSRefreshMinInterval - time.Second)
	flood(2)
	if n := iss.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetches after a second flood within the interval = %d, want 2", n)
	}
	clk.Advance(time.Second)
	flood(3)
	if n := iss.JWKSFetches(); n != 3 {
		t.Fatalf("JWKS fetches after the interval = %d, want 3", n)
	}
}

func TestIssuerUnavailable(t *testing.T) {
	t.Run("New while down", func(t *testing.T) {
		iss := apiauthtest.NewIssuer(t)
		iss.SetUnavailable(true)
		_, err := apiauth.New(context.Background(), apiauth.Config{Issuer: iss.URL, Audience: audience})
		checkErr(t, err, apiauth.ErrUnavailable)
		iss.Close()
		_, err = apiauth.New(context.Background(), apiauth.Config{Issuer: iss.URL, Audience: audience})
		checkErr(t, err, apiauth.ErrUnavailable)
	})

	t.Run("JWKS down after start", func(t *testing.T) {
		iss := apiauthtest.NewIssuer(t)
		clk := newClock()
		v := newVerifier(t, iss, clk, nil)
		known := iss.Sign(merge(iss.Claims("u", audience), map[string]any{"exp": clk.Now().Add(time.Hour).Unix()}))
		iss.RotateKey("ES256")
		rotated := iss.Sign(merge(iss.Claims("u", audience), map[string]any{"exp": clk.Now().Add(time.Hour).Unix()}))
		iss.SetUnavailable(true)
		clk.Advance(apiauth.DefaultJWKSRefreshMinInterval)

		_, err := v.Verify(context.Background(), rotated)
		checkErr(t, err, apiauth.ErrUnavailable)
		if errors.Is(err, apiauth.ErrInvalidToken) {
			t.Fatalf("err = %v: an unverifiable token is not an invalid one", err)
		}

		rec := serve(v.Middleware(okHandler()), rotated)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "30" {
			t.Fatalf("middleware: %d, Retry-After %q; want 503, 30", rec.Code, rec.Header().Get("Retry-After"))
		}
		checkBody(t, rec, "temporarily_unavailable")

		// Known keys keep working, even past the cache's age, while the
		// refresh runs in the background. A made-up kid waits for that
		// refresh (and, within the interval, starts none).
		ghost := func(n int) string {
			return iss.SignWith(apiauthtest.Header{KeyID: fmt.Sprintf("ghost-%d", n)}, iss.Claims("u", audience))
		}
		clk.Advance(15 * time.Minute)
		if _, err := v.Verify(context.Background(), known); err != nil {
			t.Fatalf("token of a known key while the JWKS is down: %v", err)
		}
		_, err = v.Verify(context.Background(), ghost(1))
		checkErr(t, err, apiauth.ErrUnavailable)

		iss.SetUnavailable(false)
		clk.Advance(apiauth.DefaultJWKSRefreshMinInterval)
		before := iss.JWKSFetches()
		if _, err := v.Verify(context.Background(), known); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		_, err = v.Verify(context.Background(), ghost(2))
		checkErr(t, err, apiauth.ErrInvalidToken)
		if n := iss.JWKSFetches(); n != before+1 {
			t.Fatalf("JWKS fetches = %d, want %d: one background refresh", n, before+1)
		}
		if _, err := v.Verify(context.Background(), rotated); err != nil {
			t.Fatalf("token of the rotated key after recovery: %v", err)
		}
	})
}

func TestIntrospection(t *testing.T) {
	iss := apiauthtest.NewIssuer(t)
	clk := newClock()
	v := newVerifier(t, iss, clk, func(c *apiauth.Config) {
		c.Introspection = &apiauth.IntrospectionConfig{ClientID: apiauthtest.ClientID, ClientSecret: apiauthtest.ClientSecret}
	})
	ctx := context.Background()
	wantCalls := func(n int) {
		t.Helper()
		if got := iss.Introspections(); got != n {
			t.Fatalf("introspections = %d, want %d", got, n)
		}
	}

	tok := iss.Sign(iss.Claims("u", audience))
	for range 2 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("active token: %v", err)
		}
	}
	wantCalls(1)

	iss.Revoke(tok)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("revoked token within the cache TTL: %v (the answer should be cached)", err)
	}
	wantCalls(1)
	clk.Advance(apiauth.DefaultIntrospectionCacheTTL)
	_, err := v.Verify(ctx, tok)
	checkErr(t, err, apiauth.ErrInactive)
	wantCalls(2)
	_, err = v.Verify(ctx, tok)
	checkErr(t, err, apiauth.ErrInactive)
	wantCalls(2) // negative answers are cached too

	// Offline failures never reach the issuer.
	_, err = v.Verify(ctx, iss.Sign(iss.Claims("u", "https://api.optibid.example/other")))
	checkErr(t, err, apiauth.ErrWrongAudience)
	wantCalls(2)

	t.Run("cache never outlives exp", func(t *testing.T) {
		long := newVerifier(t, iss, clk, func(c *apiauth.Config) {
			c.Introspection = &apiauth.IntrospectionConfig{ClientID: apiauthtest.ClientID, ClientSecret: apiauthtest.ClientSecret, CacheTTL: apiauth.MaxIntrospectionCacheTTL}
		})
		short := iss.Sign(merge(iss.Claims("u", audience), map[string]any{"iat": clk.Now().Unix(), "exp": clk.Now().Add(10 * time.Second).Unix()}))
		before := iss.Introspections()
		if _, err := long.Verify(ctx, short); err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * time.Second)
		if _, err := long.Verify(ctx, short); err != nil {
			t.Fatal(err)
		}
		if got := iss.Introspections() - before; got != 1 {
			t.Fatalf("introspections before exp = %d, want 1", got)
		}
		clk.Advance(10 * time.Second) // past exp, within the leeway
		if _, err := long.Verify(ctx, short); err != nil {
			t.Fatal(err)
		}
		if got := iss.Introspections() - before; got != 2 {
			t.Fatalf("introspections after exp = %d, want 2", got)
		}
	})

	t.Run("wrong client secret", func(t *testing.T) {
		bad := newVerifier(t, iss, clk, func(c *apiauth.Config) {
			c.Introspection = &apiauth.IntrospectionConfig{ClientID: apiauthtest.ClientID, ClientSecret: "wrong"}
		})
		_, err := bad.Verify(ctx, iss.Sign(iss.Claims("u", audience)))
		checkErr(t, err, apiauth.ErrUnavailable)
	})

	t.Run("issuer down", func(t *testing.T) {
		iss.SetUnavailable(true)
		defer iss.SetUnavailable(false)
		fresh := iss.Sign(iss.Claims("u", audience))
		_, err := v.Verify(ctx, fresh)
		checkErr(t, err, apiauth.ErrUnavailable)
		if rec := serve(v.Middleware(okHandler()), fresh); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("middleware: %d, want 503", rec.Code)
		}
	})
}

func TestConfig(t *testing.T) {
	valid := apiauth.Config{Issuer: "https://id.optibid.example", Audience: audience}
	tests := []struct {
		name  string
		edit  func(*apiauth.Config)
		valid bool
	}{
		{"minimal", func(*apiauth.Config) {}, true},
		{"http on localhost", func(c *apiauth.Config) { c.Issuer = "http://localhost:8080" }, true},
		{"http on 127.0.0.1", func(c *apiauth.Config) { c.Issuer = "http://127.0.0.1:8080" }, true},
		{"http on ::1", func(c *apiauth.Config) { c.Issuer = "http://[::1]:8080" }, true},
		{"all settings", func(c *apiauth.Config) {
			c.Leeway, c.Algorithms, c.JWKSRefreshMinInterval = apiauth.MaxLeeway, []string{"ES256", "PS256", "EdDSA"}, time.Minute
			c.Introspection = &apiauth.IntrospectionConfig{ClientID: "a", ClientSecret: "b", CacheTTL: apiauth.MaxIntrospectionCacheTTL}
		}, true},
		{"no issuer", func(c *apiauth.Config) { c.Issuer = "" }, false},
		{"http elsewhere", func(c *apiauth.Config) { c.Issuer = "http://id.optibid.example" }, false},
		{"http on localhost.evil.example", func(c *apiauth.Config) { c.Issuer = "http://localhost.evil.example" }, false},
		{"other scheme", func(c *apiauth.Config) { c.Issuer = "ftp://id.optibid.example" }, false},
		{"issuer with query", func(c *apiauth.Config) { c.Issuer = "https://id.optibid.example?x=1" }, false},
		{"issuer with user", func(c *apiauth.Config) { c.Issuer = "https://u@id.optibid.example" }, false},
		{"no audience", func(c *apiauth.Config) { c.Audience = "" }, false},
		{"relative audience", func(c *apiauth.Config) { c.Audience = "trading" }, false},
		{"negative leeway", func(c *apiauth.Config) { c.Leeway = -time.Second }, false},
		{"leeway too long", func(c *apiauth.Config) { c.Leeway = apiauth.MaxLeeway + time.Second }, false},
		{"negative refresh interval", func(c *apiauth.Config) { c.JWKSRefreshMinInterval = -time.Second }, false},
		{"HS256", func(c *apiauth.Config) { c.Algorithms = []string{"ES256", "HS256"} }, false},
		{"none", func(c *apiauth.Config) { c.Algorithms = []string{"none"} }, false},
		{"lower-case es256", func(c *apiauth.Config) { c.Algorithms = []string{"es256"} }, false},
		{"introspection without secret", func(c *apiauth.Config) { c.Introspection = &apiauth.IntrospectionConfig{ClientID: "a"} }, false},
		{"introspection TTL too long", func(c *apiauth.Config) {
			c.Introspection = &apiauth.IntrospectionConfig{ClientID: "a", ClientSecret: "b", CacheTTL: apiauth.MaxIntrospectionCacheTTL + time.Second}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.valid && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.valid {
				if !errors.Is(err, apiauth.ErrInvalidConfig) {
					t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
				}
				if _, err := apiauth.New(context.Background(), cfg); !errors.Is(err, apiauth.ErrInvalidConfig) {
					t.Fatalf("New = %v, want ErrInvalidConfig", err)
				}
			}
		})
	}

	t.Run("discovery names another issuer", func(t *testing.T) {
		iss := apiauthtest.NewIssuer(t)
		_, err := apiauth.New(context.Background(), apiauth.Config{Issuer: iss.URL + "/", Audience: audience})
		if !errors.Is(err, apiauth.ErrInvalidConfig) {
			t.Fatalf("New = %v, want ErrInvalidConfig", err)
		}
	})
}

func BenchmarkVerifyES256(b *testing.B) {
	iss := apiauthtest.NewIssuer(b)
	v := newVerifier(b, iss, newClock(), nil)
	c := iss.Claims("user-1", audience)
	c["scope"] = "openid bids:read bids:submit"
	c["org"] = map[string]any{"id": "o1", "slug": "acme", "name": "Acme Energy", "role": "trader"}
	c["permissions"] = []string{"bids:read", "bids:submit", "market:view", "org:read"}
	c["entitlements"] = map[string]any{"features": []string{"bids.auto", "market.view"}}
	tok := iss.Sign(c)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
