package apiauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxCachedIntrospections bounds the introspection cache. Only tokens that
// verified offline get in, so filling it takes many genuine tokens.
const maxCachedIntrospections = 10000

// introspector asks the issuer (RFC 7662) whether tokens are active and
// caches the answers, negative ones included, by SHA-256 of the token.
type introspector struct {
	endpoint string
	cfg      IntrospectionConfig
	client   *http.Client
	now      func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedAnswer
}

type cachedAnswer struct {
	active bool
	until  time.Time
}

func newIntrospector(endpoint string, cfg IntrospectionConfig, client *http.Client, now func() time.Time) *introspector {
	return &introspector{endpoint: endpoint, cfg: cfg, client: client, now: now, cache: make(map[[sha256.Size]byte]cachedAnswer)}
}

// active reports whether the issuer considers token active. The answer is
// reused for CacheTTL, and never past exp: an answer about a token that
// expired is no answer about its (leeway-tolerated) present.
func (in *introspector) active(ctx context.Context, token string, exp time.Time) (bool, error) {
	key := sha256.Sum256([]byte(token))
	in.mu.Lock()
	a, ok := in.cache[key]
	in.mu.Unlock()
	if ok && in.now().Before(a.until) {
		return a.active, nil
	}

	active, err := in.ask(ctx, token)
	if err != nil {
		return false, err
	}
	now := in.now()
	until := now.Add(in.cfg.CacheTTL)
	if exp.Before(until) {
		until = exp
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !now.Before(until) {
		delete(in.cache, key)
		return active, nil
	}
	if len(in.cache) >= maxCachedIntrospections {
		in.evict(now)
	}
	in.cache[key] = cachedAnswer{active: active, until: until}
	return active, nil
}

// evict drops expired answers, then arbitrary ones until a tenth of the
// cache is free. Called with mu held.
func (in *introspector) evict(now time.Time) {
	for k, a := range in.cache {
		if !now.Before(a.until) {
			delete(in.cache, k)
		}
	}
	for k := range in.cache {
		if len(in.cache) < maxCachedIntrospections*9/10 {
			return
		}
		delete(in.cache, k)
	}
}

// ask POSTs the token to the introspection endpoint, authenticated with
// HTTP Basic, the ID and secret each form-urlencoded first (RFC 6749
// §2.3.1). Anything but a 200 with a boolean `active` wraps ErrUnavailable.
func (in *introspector) ask(ctx context.Context, token string) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	resp, err := in.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	var answer struct {
		Active *bool `json:"active"`
	}
	if err := decodeResponse(resp, in.endpoint, &answer); err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	if answer.Active == nil {
		return false, fmt.Errorf("%w: introspection answer has no active member", ErrUnavailable)
	}
	return *answer.Active, nil
}
