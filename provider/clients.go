package provider

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/optibid/idp/storage"
)

// clientCache keeps clients in memory so that the token path authenticates
// clients without a database round trip. Entries live ttl; replicas pick up
// a changed client within that time. Unknown IDs are cached briefly too, so
// a flood of made-up client IDs cannot turn into a flood of queries.
type clientCache struct {
	store interface {
		ClientByID(ctx context.Context, id string) (storage.Client, error)
	}
	cfg Config
	now func() time.Time
	ttl time.Duration

	mu      sync.RWMutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	client  *client // nil: known not to exist
	expires time.Time
}

const (
	clientTTL         = 30 * time.Second
	negativeClientTTL = 5 * time.Second
	maxCachedClients  = 10000
)

func newClientCache(store Store, cfg Config, now func() time.Time) *clientCache {
	return &clientCache{store: store, cfg: cfg, now: now, ttl: clientTTL, entries: map[string]cacheEntry{}}
}

// get returns the client, or storage.ErrNotFound.
func (c *clientCache) get(ctx context.Context, id string) (*client, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		if e.client == nil {
			return nil, storage.ErrNotFound
		}
		return e.client, nil
	}
	sc, err := c.store.ClientByID(ctx, id)
	var entry cacheEntry
	switch {
	case err == nil:
		entry = cacheEntry{client: &client{Client: sc, cfg: c.cfg}, expires: now.Add(c.ttl)}
	case errors.Is(err, storage.ErrNotFound):
		entry = cacheEntry{expires: now.Add(negativeClientTTL)}
	default:
		return nil, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedClients {
		c.entries = map[string]cacheEntry{}
	}
	c.entries[id] = entry
	c.mu.Unlock()
	if entry.client == nil {
		return nil, storage.ErrNotFound
	}
	return entry.client, nil
}

// Client implements ClientReader.
func (c *clientCache) Client(ctx context.Context, id string) (storage.Client, error) {
	cl, err := c.get(ctx, id)
	if err != nil {
		return storage.Client{}, err
	}
	return cl.Client, nil
}

// authenticate checks a client secret in constant time against the stored
// SHA-256. Public clients have no secret and never authenticate this way.
func (c *clientCache) authenticate(ctx context.Context, id, secret string) (*client, error) {
	cl, err := c.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if cl.Public() || secret == "" {
		return nil, errBadSecret
	}
	if subtle.ConstantTimeCompare([]byte(storage.HashSecret(secret)), []byte(cl.SecretHash)) != 1 {
		return nil, errBadSecret
	}
	return cl, nil
}

var errBadSecret = errors.New("provider: client authentication failed")

// client adapts storage.Client to op.Client.
type client struct {
	storage.Client
	cfg Config
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.ID }
func (c *client) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }

// ApplicationType: confidential clients are web apps; public clients are
// native apps, whose loopback redirect URIs may use any port (RFC 8252).
func (c *client) ApplicationType() op.ApplicationType {
	if c.Public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.Client.GrantTypes))
	for _, g := range c.Client.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c *client) hasGrant(g oidc.GrantType) bool {
	return slices.Contains(c.Client.GrantTypes, string(g))
}

func (c *client) LoginURL(id string) string           { return c.cfg.LoginPath + "?id=" + id }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration      { return c.cfg.IDTokenTTL }
func (c *client) DevMode() bool                       { return false }
func (c *client) ClockSkew() time.Duration            { return 0 }

// IDTokenUserinfoClaimsAssertion: put profile and email claims in the ID
// token too, as most relying parties expect.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed reports whether a non-standard scope is registered for the
// client.
func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.Scopes, scope) }

// signingAlg is the algorithm the client's tokens are signed with.
func (c *client) signingAlg() string {
	if c.IDTokenSignedResponseAlg != "" {
		return c.IDTokenSignedResponseAlg
	}
	return c.cfg.SigningAlg
}

// forget drops a cached client, so a change (deleted client, new secret)
// applies at once: on this replica directly, on the others through the
// store's change notifications (ttl is the fallback when those are lost).
func (c *clientCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// ForgetClient drops the cached copy of a client that was just changed.
func (p *Provider) ForgetClient(id string) { p.clients.forget(id) }

// ForgetClients drops every cached client (after changes may have been
// missed).
func (p *Provider) ForgetClients() {
	p.clients.mu.Lock()
	clear(p.clients.entries)
	p.clients.mu.Unlock()
}
