package apiauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// jwksMaxAge is how long a fetched JWKS is trusted before the next
	// lookup refetches it, so that a key the issuer withdrew stops working.
	jwksMaxAge = 10 * time.Minute
	// fetchTimeout bounds a background JWKS fetch, which outlives the
	// request that started it.
	fetchTimeout = 10 * time.Second
	// minRSABits is the smallest RSA key accepted from the JWKS.
	minRSABits = 2048
)

// keySet caches the issuer's JWKS. Invariants, under mu: at most one fetch
// runs at a time (inflight is non-nil while it does, and is closed when it
// ends), and a fetch starts at most once per minInterval (attempted). A
// failed fetch keeps the previous keys.
type keySet struct {
	uri         string
	client      *http.Client
	now         func() time.Time
	minInterval time.Duration

	mu        sync.Mutex
	keys      map[string][]jose.JSONWebKey // by kid
	fetched   time.Time                    // last successful fetch
	attempted time.Time                    // last fetch started
	lastErr   error                        // of the last fetch; nil if it succeeded
	inflight  chan struct{}
}

func newKeySet(uri string, client *http.Client, now func() time.Time, minInterval time.Duration) *keySet {
	return &keySet{uri: uri, client: client, now: now, minInterval: minInterval}
}

// init fetches the keys the first time, synchronously, with the caller's
// context.
func (s *keySet) init(ctx context.Context) error {
	keys, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.fetched, s.attempted = keys, s.now(), s.now()
	return nil
}

// lookup returns the keys named kid. When kid is unknown it refetches the
// JWKS, within the rate limit, and waits for the outcome; when the cache is
// older than jwksMaxAge it refetches in the background and answers with
// the keys it has. An unknown kid wraps ErrInvalidToken, unless the last
// fetch failed: then the kid may well be the issuer's newest key, and the
// error wraps ErrUnavailable.
func (s *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	waited := false
	for {
		s.mu.Lock()
		keys, known := s.keys[kid]
		now := s.now()
		if known && now.Sub(s.fetched) < jwksMaxAge {
			s.mu.Unlock()
			return keys, nil
		}
		if !waited && s.inflight == nil && now.Sub(s.attempted) >= s.minInterval {
			s.inflight = make(chan struct{})
			s.attempted = now
			go s.refresh(context.WithoutCancel(ctx), s.inflight)
		}
		if known {
			// Stale: the refetch runs in the background while the keys
			// we have keep serving, so a slow issuer slows no request.
			s.mu.Unlock()
			return keys, nil
		}
		if ch := s.inflight; ch != nil && !waited {
			s.mu.Unlock()
			select {
			case <-ch:
				waited = true
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: waiting for the JWKS: %w", ErrUnavailable, ctx.Err())
			}
		}
		lastErr := s.lastErr
		s.mu.Unlock()
		if lastErr != nil {
			return nil, fmt.Errorf("unknown key %q: %w", kid, lastErr)
		}
		return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
	}
}

// refresh fetches the JWKS and publishes the outcome, then closes done.
func (s *keySet) refresh(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	if err == nil {
		s.keys, s.fetched = keys, s.now()
	}
	s.inflight = nil
	close(done)
}

// fetch GETs the JWKS and keeps the usable keys: public, asymmetric, for
// signatures, with a kid. Keys of unknown types are skipped, not fatal, so
// that the issuer can publish new kinds of keys.
func (s *keySet) fetch(ctx context.Context) (map[string][]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, s.client, s.uri, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := make(map[string][]jose.JSONWebKey)
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !usable(k) {
			continue
		}
		keys[k.KeyID] = append(keys[k.KeyID], k.Public())
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks: %w: %s has no usable signing key", ErrUnavailable, s.uri)
	}
	return keys, nil
}

func usable(k jose.JSONWebKey) bool {
	if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.Valid() {
		return false
	}
	switch pub := k.Public().Key.(type) {
	case *rsa.PublicKey:
		return pub.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	default:
		return false
	}
}
