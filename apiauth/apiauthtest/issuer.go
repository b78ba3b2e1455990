// Package apiauthtest is a fake OptiBid issuer for testing APIs that verify
// tokens with apiauth: an in-process HTTP server with discovery, a JWKS
// (one ES256 and one RS256 key), and RFC 7662 introspection, that signs
// RFC 9068 access tokens on demand. Only for tests: it does not check what
// a real issuer would.
package apiauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Introspection credentials the fake issuer accepts.
const (
	ClientID     = "trading-api"
	ClientSecret = "s3cret+with:odd%/chars"
)

// Issuer is a running fake issuer. Its methods are safe for concurrent use.
type Issuer struct {
	// URL is the issuer identifier, http://127.0.0.1:port.
	URL string

	tb  testing.TB
	srv *httptest.Server

	mu             sync.Mutex
	keys           []signingKey                    // published, oldest first
	current        map[jose.SignatureAlgorithm]int // index into keys
	revoked        map[string]bool
	unavailable    bool
	jwksFetches    int
	introspections int
	serial         int
}

type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// NewIssuer starts a fake issuer, stopped when the test ends.
func NewIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	i := &Issuer{tb: tb, current: map[jose.SignatureAlgorithm]int{}, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /keys", i.jwks)
	mux.HandleFunc("POST /oauth/introspect", i.introspect)
	i.srv = httptest.NewServer(i.availability(mux))
	tb.Cleanup(i.srv.Close)
	i.URL = i.srv.URL
	i.RotateKey("ES256")
	i.RotateKey("RS256")
	return i
}

// Close stops the server: afterwards every request to it fails.
func (i *Issuer) Close() { i.srv.Close() }

// SetUnavailable makes every endpoint answer 503 (true) or work again.
func (i *Issuer) SetUnavailable(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.unavailable = down
}

// RotateKey publishes a new key for alg ("ES256" or "RS256"), which signs
// from now on, and returns its kid. Older keys stay published.
func (i *Issuer) RotateKey(alg string) string {
	i.tb.Helper()
	var priv crypto.Signer
	var err error
	switch jose.SignatureAlgorithm(alg) {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		i.tb.Fatalf("apiauthtest: unsupported algorithm %q", alg)
	}
	if err != nil {
		i.tb.Fatalf("apiauthtest: generate %s key: %v", alg, err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.serial++
	kid := fmt.Sprintf("%s-%d", strings.ToLower(alg), i.serial)
	i.keys = append(i.keys, signingKey{kid: kid, alg: jose.SignatureAlgorithm(alg), priv: priv})
	i.current[jose.SignatureAlgorithm(alg)] = len(i.keys) - 1
	return kid
}

// KeyID returns the kid of the key that currently signs alg.
func (i *Issuer) KeyID(alg string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[i.current[jose.SignatureAlgorithm(alg)]].kid
}

// PublicKey returns the public key published as kid, or nil.
func (i *Issuer) PublicKey(kid string) crypto.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, k := range i.keys {
		if k.kid == kid {
			return k.priv.Public()
		}
	}
	return nil
}

// Claims returns valid claims for a token of sub for audience, issued now
// for five minutes to client "test-client" with no scope. Add or change
// claims before signing.
func (i *Issuer) Claims(sub, audience string) map[string]any {
	i.mu.Lock()
	i.serial++
	jti := fmt.Sprintf("at-%d", i.serial)
	i.mu.Unlock()
	now := time.Now()
	return map[string]any{
		"iss":       i.URL,
		"sub":       sub,
		"aud":       audience,
		"client_id": "test-client",
		"iat":       now.Unix(),
		"exp":       now.Add(5 * time.Minute).Unix(),
		"jti":       jti,
	}
}

// Header chooses how SignWith signs. Zero fields take the defaults: alg
// ES256, typ "at+jwt", the current key's kid.
type Header struct {
	Alg     string
	Typ     string
	OmitTyp bool
	KeyID   string // written into the header; the alg's current key still signs
}

// Sign signs claims as an ES256 access token.
func (i *Issuer) Sign(claims map[string]any) string { return i.SignWith(Header{}, claims) }

// SignWith signs claims as h says.
func (i *Issuer) SignWith(h Header, claims map[string]any) string {
	i.tb.Helper()
	if h.Alg == "" {
		h.Alg = string(jose.ES256)
	}
	if h.Typ == "" {
		h.Typ = "at+jwt"
	}
	i.mu.Lock()
	idx, ok := i.current[jose.SignatureAlgorithm(h.Alg)]
	k := i.keys[idx]
	i.mu.Unlock()
	if !ok {
		i.tb.Fatalf("apiauthtest: no key for %q", h.Alg)
	}
	if h.KeyID == "" {
		h.KeyID = k.kid
	}
	opts := &jose.SignerOptions{}
	if !h.OmitTyp {
		opts = opts.WithType(jose.ContentType(h.Typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: h.KeyID}}, opts)
	if err != nil {
		i.tb.Fatalf("apiauthtest: signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		i.tb.Fatalf("apiauthtest: claims: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		i.tb.Fatalf("apiauthtest: sign: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		i.tb.Fatalf("apiauthtest: serialize: %v", err)
	}
	return out
}

// Revoke makes introspection answer active=false for token.
func (i *Issuer) Revoke(token string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.revoked[token] = true
}

// JWKSFetches counts the JWKS requests served.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// Introspections counts the authenticated introspection requests served.
func (i *Issuer) Introspections() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.introspections
}

func (i *Issuer) availability(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		down := i.unavailable
		i.mu.Unlock()
		if down {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.URL + "/keys",
		"introspection_endpoint":                i.URL + "/oauth/introspect",
		"id_token_signing_alg_values_supported": []string{"ES256", "RS256"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.jwksFetches++
	var set jose.JSONWebKeySet
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	i.mu.Unlock()
	writeJSON(w, set)
}

func (i *Issuer) introspect(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if !ok || id != ClientID || secret != ClientSecret {
		writeJSONStatus(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	token := r.PostFormValue("token")
	i.mu.Lock()
	i.introspections++
	revoked := i.revoked[token]
	i.mu.Unlock()
	claims := unverifiedClaims(token)
	exp, _ := claims["exp"].(float64)
	if revoked || claims == nil || time.Now().After(time.Unix(int64(exp), 0)) {
		writeJSON(w, map[string]bool{"active": false})
		return
	}
	claims["active"] = true
	writeJSON(w, claims)
}

// unverifiedClaims decodes a JWT's payload; nil when it is not one.
func unverifiedClaims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return nil
	}
	return claims
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
