package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/manage"
)

// ID token claims, JWKS hygiene, and a key rotation that keeps old tokens
// verifiable (CHECKS 37, 40, 41).
func TestIDTokenClaimsJWKSAndKeyRotation(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	tok := apptest.DecodeToken(t, body)
	c := apptest.Claims(t, tok.IDToken)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"} {
		if _, ok := c[k]; !ok {
			t.Errorf("id token lacks %s", k)
		}
	}
	if sub, _ := c["sub"].(string); len(sub) == 0 || len(sub) > 255 {
		t.Errorf("sub %q", sub)
	}
	if c["iss"] != e.Issuer || c["nonce"] != "n-1" || c["iat"].(float64) >= c["exp"].(float64) {
		t.Errorf("claims: %v", c)
	}
	jwks := func() jose.JSONWebKeySet {
		resp, err := e.Srv.Client().Get(e.Issuer + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		return set
	}
	set := jwks()
	raw, _ := json.Marshal(set)
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(string(raw), private) {
			t.Fatalf("JWKS exposes private member %s", private)
		}
	}
	seen := map[string]bool{}
	for _, k := range set.Keys {
		if seen[k.KeyID] {
			t.Fatalf("duplicate kid %s", k.KeyID)
		}
		seen[k.KeyID] = true
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			t.Fatalf("non-public key %T", k.Key)
		}
	}
	verify := func(jwt string, set jose.JSONWebKeySet) error {
		sig, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			return err
		}
		keys := set.Key(sig.Signatures[0].Header.KeyID)
		if len(keys) == 0 {
			return jose.ErrCryptoFailure
		}
		_, err = sig.Verify(keys[0])
		return err
	}
	if err := verify(tok.IDToken, set); err != nil {
		t.Fatalf("id token does not verify with JWKS: %v", err)
	}
	if err := e.App.Keys.Rotate(context.Background(), "", manage.Actor{}); err != nil {
		t.Fatal(err)
	}
	after := jwks()
	if err := verify(tok.IDToken, after); err != nil {
		t.Fatalf("pre-rotation token no longer verifies: %v", err)
	}
	if e.Userinfo(tok.AccessToken).StatusCode != 200 {
		t.Fatal("pre-rotation access token refused")
	}
	code, v = e.CodeFor(e.Browser(), nil)
	_, body = e.Exchange(code, v)
	newTok := apptest.DecodeToken(t, body)
	if err := verify(newTok.IDToken, after); err != nil {
		t.Fatalf("post-rotation token: %v", err)
	}
	oldKid := func(jwt string) string {
		s, _ := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		return s.Signatures[0].Header.KeyID
	}
	if oldKid(newTok.IDToken) == oldKid(tok.IDToken) {
		t.Fatal("rotation did not change the signing key")
	}
}

// Received JWTs (id_token_hint) with alg none, HS256 keyed with our public
// key, or tampered → rejected (CHECKS 38).
func TestHostileJWTsAreRefused(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	good := apptest.DecodeToken(t, body).IDToken
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"x"}`)) + "." + parts[1] + "." + parts[2]
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else","iss":"`+e.Issuer+`"}`)) + "." + parts[2]
	for name, hint := range map[string]string{"none": none, "hs256": hs, "tampered": tampered} {
		t.Run(name, func(t *testing.T) {
			resp, _ := e.Browser().Get(e.AuthURL(map[string]string{"id_token_hint": hint, "prompt": "none"}))
			clientError(t, e, resp, "login_required")
			for _, at := range []string{hint} {
				if e.Userinfo(at).StatusCode != 401 {
					t.Fatal("hostile JWT accepted as access token")
				}
			}
		})
	}
}

// userinfo with a garbage or empty token → 401 with WWW-Authenticate:
// Bearer error="invalid_token" (CHECKS 39).
func TestUserinfoRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "memory")
	code, v := e.CodeFor(e.Browser(), nil)
	_, body := e.Exchange(code, v)
	at := apptest.DecodeToken(t, body).AccessToken
	for name, tok := range map[string]string{"garbage": "abc", "empty": ""} {
		resp := e.Userinfo(tok)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	e.Clock.Offset = 16 * time.Minute
	defer func() { e.Clock.Offset = 0 }()
	_ = at // the JWT's exp is checked against the verifier's real clock; revocation is covered by TestRevocationKillsTheTokenForItsOwnClientOnly
}
