// Package oidctest runs a small but real OpenID Provider on loopback for
// tests: discovery, JWKS, an authorization endpoint that approves at once
// (there is no user to ask), a token endpoint that checks the client, the
// redirect URI and the PKCE verifier and signs ID tokens (ES256) with the
// claims the test sets, and userinfo. Tests shape its issuer and claims
// like Okta, Google, Azure AD or Auth0 to exercise the connector presets.
package oidctest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Server is the provider.
type Server struct {
	URL string
	srv *httptest.Server
	key *ecdsa.PrivateKey

	mu sync.Mutex
	// Issuer is what discovery announces (default URL).
	Issuer string
	// Claims returns the claims of the next ID token, given the nonce of
	// its authorization request.
	Claims func(nonce string) map[string]any
	// Userinfo is served at /userinfo.
	Userinfo map[string]any
	// ClientID and ClientSecret are the one registered client.
	ClientID, ClientSecret string
	// Status, when set, is the token endpoint's answer; Delay slows it
	// (a hanging upstream), until the client gives up or the test ends.
	Status   int
	Delay    time.Duration
	SignWith *ecdsa.PrivateKey // a wrong key, for signature tests

	codes map[string]grant
}

type grant struct{ nonce, challenge, redirect string }

// New starts a provider and stops it with the test. Requests still
// waiting out a Delay end with the test too: their context is cancelled
// before the server closes, which waits for them.
func New(t testing.TB) *Server {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := &Server{key: key, ClientID: "rp", ClientSecret: "rp-secret", codes: map[string]grant{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	ctx, stop := context.WithCancel(context.Background())
	s.srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	s.srv.Start()
	t.Cleanup(func() { stop(); s.srv.Close() })
	s.URL, s.Issuer = s.srv.URL, s.srv.URL
	return s
}

// Set changes the server's settings under its lock.
func (s *Server) Set(f func(*Server)) { s.mu.Lock(); f(s); s.mu.Unlock() }

// Good returns ID-token claims that verify for the client and nonce,
// with extra merged in (a nil value deletes a claim).
func (s *Server) Good(nonce string, extra map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{"iss": s.Issuer, "sub": "user-1", "aud": s.ClientID, "exp": now + 300, "iat": now, "nonce": nonce,
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.mu.Lock()
		delay := s.Delay
		s.mu.Unlock()
		// Outside the lock, so that a hanging token endpoint does not hold
		// up the rest of the provider; with the body read, the server
		// notices a client that hangs up.
		r.ParseForm()
		if !wait(r.Context(), delay) {
			return // the client gave up, or the test ended
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
		json.NewEncoder(w).Encode(map[string]string{"issuer": s.Issuer, "authorization_endpoint": s.URL + "/authorize",
			"token_endpoint": s.URL + "/token", "jwks_uri": s.URL + "/keys", "userinfo_endpoint": s.URL + "/userinfo"})
	case r.URL.Path == "/keys":
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	case r.URL.Path == "/authorize":
		q := r.URL.Query()
		if q.Get("client_id") != s.ClientID || q.Get("code_challenge_method") != "S256" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		code := base64.RawURLEncoding.EncodeToString(randomBytes())
		s.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		back, _ := url.Parse(q.Get("redirect_uri"))
		v := back.Query()
		v.Set("code", code)
		v.Set("state", q.Get("state"))
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case r.URL.Path == "/token":
		r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		code := r.PostForm.Get("code")
		g, known := s.codes[code]
		delete(s.codes, code)
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		pkceOK := !known || g.challenge == "" || base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge
		switch {
		case s.Status != 0:
			w.WriteHeader(s.Status)
			json.NewEncoder(w).Encode(map[string]string{"error": "server_error"})
			return
		case id != s.ClientID || secret != s.ClientSecret:
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		case code == "good-code": // the connector tests' fixed code
		case !known || !pkceOK || g.redirect != r.PostForm.Get("redirect_uri"):
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		signer := s.key
		if s.SignWith != nil {
			signer = s.SignWith
		}
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: signer, KeyID: "k1"}}, nil)
		payload, _ := json.Marshal(s.Claims(g.nonce))
		jws, _ := sig.Sign(payload)
		idt, _ := jws.CompactSerialize()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": idt})
	case r.URL.Path == "/userinfo":
		if r.Header.Get("Authorization") != "Bearer at" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(s.Userinfo)
	default:
		http.NotFound(w, r)
	}
}

// wait waits d, or less when ctx ends first; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randomBytes() []byte {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return b
}
