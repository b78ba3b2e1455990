// Package keys manages token-signing keys: generation, sealing at rest,
// rotation and an in-memory snapshot that the token path reads without
// touching the store.
//
// Life cycle per algorithm: a "next" key is published in the JWKS before it
// ever signs; rotation makes it "current" and retires the old current, which
// stays published until every token it signed has expired. Replicas reload
// the set periodically, so a rotation made on one replica reaches the
// others within Config.ReloadInterval; during that window the old key still
// signs, and both are published, so no verifier fails.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/storage"
)

// Supported lists the signing algorithms we can generate keys for (the
// registration rule's list).
var Supported = registration.SigningAlgs

// Config configures key management.
type Config struct {
	// Algorithms to keep keys for. RS256 (OIDC requires it for ID tokens)
	// and ES256 (the access-token default) are always included.
	Algorithms []string
	// RetiredFor: how long a retired key stays published; must exceed the
	// longest lifetime of any token it signed.
	RetiredFor time.Duration
	// ReloadInterval: how often the set is re-read from the store.
	ReloadInterval time.Duration
	// RotationInterval: a current key this old is rotated (0: only by
	// hand). Every replica checks at each reload; the store lets exactly
	// one of them rotate per interval. The key promoted was published a
	// whole interval before, so no replica meets a token it cannot verify.
	RotationInterval time.Duration
}

// Store is what the manager needs from storage.
type Store interface {
	SigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	InitSigningKeys(ctx context.Context, current, next storage.SigningKey, ev storage.AuditEvent) (bool, error)
	RotateSigningKeys(ctx context.Context, alg string, newNext storage.SigningKey, now, retiredUntil, activatedBefore time.Time, ev storage.AuditEvent) error
}

// Manager serves signing keys from an atomically swapped snapshot.
type Manager struct {
	store Store
	box   *seal.Box
	cfg   Config
	now   func() time.Time
	snap  atomic.Pointer[snapshot]
}

type snapshot struct {
	current   map[string]*signingKey // by algorithm
	published []op.Key
}

// New ensures every configured algorithm has a current and a next key
// (creating them on first start; concurrent replicas agree on one set) and
// loads the snapshot.
func New(ctx context.Context, store Store, box *seal.Box, cfg Config, now func() time.Time) (*Manager, error) {
	for _, alg := range []string{"ES256", "RS256"} {
		if !slices.Contains(cfg.Algorithms, alg) {
			cfg.Algorithms = append([]string{alg}, cfg.Algorithms...)
		}
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	m := &Manager{store: store, box: box, cfg: cfg, now: now}
	for _, alg := range cfg.Algorithms {
		cur, err := m.generate(alg, storage.KeyCurrent)
		if err != nil {
			return nil, err
		}
		next, err := m.generate(alg, storage.KeyNext)
		if err != nil {
			return nil, err
		}
		if _, err := store.InitSigningKeys(ctx, cur, next, manage.Actor{}.Event(m.now(),
			manage.EventSigningKeysCreated, manage.About{Details: map[string]string{"alg": alg, "kid": cur.ID, "next_kid": next.ID}})); err != nil {
			return nil, fmt.Errorf("keys: init %s: %w", alg, err)
		}
	}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) generate(alg string, state storage.SigningKeyState) (storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return storage.SigningKey{}, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keys: generate %s: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keys: marshal: %w", err)
	}
	kid := random.ID()
	now := m.now().UTC()
	k := storage.SigningKey{ID: kid, Algorithm: alg, State: state, PrivateKeySealed: m.box.Seal(der, []byte(kid)), CreatedAt: now}
	if state == storage.KeyCurrent {
		k.ActivatedAt = now
	}
	return k, nil
}

// Reload re-reads the key set from the store. On failure the previous
// snapshot stays in use, so discovery and JWKS survive a database outage.
func (m *Manager) Reload(ctx context.Context) error {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
	s := &snapshot{current: map[string]*signingKey{}}
	for _, k := range stored {
		der, err := m.box.Open(k.PrivateKeySealed, []byte(k.ID))
		if err != nil {
			return fmt.Errorf("keys: open %s: %w (is keys.encryption_key the one the keys were sealed with?)", k.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("keys: parse %s: %w", k.ID, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return fmt.Errorf("keys: %s is not a signing key", k.ID)
		}
		since := k.ActivatedAt
		if since.IsZero() {
			since = k.CreatedAt
		}
		sk := &signingKey{id: k.ID, alg: jose.SignatureAlgorithm(k.Algorithm), priv: signer, since: since}
		s.published = append(s.published, publicKey{sk})
		if k.State == storage.KeyCurrent {
			s.current[k.Algorithm] = sk
		}
	}
	for _, alg := range m.cfg.Algorithms {
		if s.current[alg] == nil {
			return fmt.Errorf("keys: no current %s key in store", alg)
		}
	}
	m.snap.Store(s)
	return nil
}

// Run reloads the set every ReloadInterval until ctx ends, so rotations on
// other replicas arrive here.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Reload(ctx); err != nil {
				slog.WarnContext(ctx, "signing keys reload failed; keeping previous set", "error", err)
			}
			if err := m.RotateDue(ctx); err != nil {
				slog.WarnContext(ctx, "scheduled key rotation failed", "error", err)
			}
		}
	}
}

// RotateDue rotates every algorithm whose current key is older than
// RotationInterval. Replicas doing this at the same moment rotate once:
// the store refuses a rotation when the current key is no longer the one
// that was due (storage.ErrConflict, not an error here).
func (m *Manager) RotateDue(ctx context.Context) error {
	if m.cfg.RotationInterval <= 0 {
		return nil
	}
	snap := m.snap.Load()
	now := m.now().UTC()
	cutoff := now.Add(-m.cfg.RotationInterval)
	rotated := false
	for _, alg := range m.cfg.Algorithms {
		cur := snap.current[alg]
		if cur == nil || !cur.since.Before(cutoff) {
			continue
		}
		next, err := m.generate(alg, storage.KeyNext)
		if err != nil {
			return err
		}
		e := manage.Actor{UserID: "schedule"}.Event(now, manage.EventSigningKeysRotated,
			manage.About{Details: map[string]string{"alg": alg, "new_next_kid": next.ID, "by": "schedule"}})
		err = m.store.RotateSigningKeys(ctx, alg, next, now, now.Add(m.cfg.RetiredFor), cutoff, e)
		switch {
		case errors.Is(err, storage.ErrConflict):
			// another replica was first
		case err != nil:
			return fmt.Errorf("keys: rotate %s: %w", alg, err)
		default:
			rotated = true
			slog.InfoContext(ctx, "signing key rotated on schedule", "alg", alg, "new_next_kid", next.ID)
		}
	}
	if rotated {
		return m.Reload(ctx)
	}
	return nil
}

// Rotate rotates one algorithm (or every configured one when alg is empty)
// and reloads; by is who asked (audited).
func (m *Manager) Rotate(ctx context.Context, alg string, by manage.Actor) error {
	algs := m.cfg.Algorithms
	if alg != "" {
		if !slices.Contains(algs, alg) {
			return fmt.Errorf("keys: algorithm %q not configured", alg)
		}
		algs = []string{alg}
	}
	for _, a := range algs {
		next, err := m.generate(a, storage.KeyNext)
		if err != nil {
			return err
		}
		now := m.now().UTC()
		e := by.Event(now, manage.EventSigningKeysRotated, manage.About{Details: map[string]string{"alg": a, "new_next_kid": next.ID}})
		if err := m.store.RotateSigningKeys(ctx, a, next, now, now.Add(m.cfg.RetiredFor), time.Time{}, e); err != nil {
			return fmt.Errorf("keys: rotate %s: %w", a, err)
		}
	}
	return m.Reload(ctx)
}

// SigningKey returns the current key for alg (falling back to RS256).
func (m *Manager) SigningKey(alg string) op.SigningKey {
	s := m.snap.Load()
	if k := s.current[alg]; k != nil {
		return k
	}
	return s.current["RS256"]
}

// KeySet returns every published public key: next, current and retired.
func (m *Manager) KeySet() []op.Key { return m.snap.Load().published }

// Algorithms returns the algorithms with a current key.
func (m *Manager) Algorithms() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, 0, len(m.cfg.Algorithms))
	for _, a := range m.cfg.Algorithms {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}

type signingKey struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	// since is when it became current (its creation for a first key).
	since time.Time
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the JWKS view of a key: public half only.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return p.k.priv.Public() }
