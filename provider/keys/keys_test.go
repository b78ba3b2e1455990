package keys_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/provider/keys"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/memory"
)

var ctx = context.Background()

func box(t *testing.T, b byte) *seal.Box {
	s, err := seal.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLifecycle(t *testing.T) {
	store := memory.New(nil)
	m, err := keys.New(ctx, store, box(t, 1), keys.Config{Algorithms: []string{"ES256"}, RetiredFor: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// RS256 is always added; each algorithm publishes current + next.
	if got := len(m.KeySet()); got != 4 {
		t.Fatalf("published %d keys, want 4", got)
	}
	if _, ok := m.SigningKey("RS256").Key().(*rsa.PrivateKey); !ok {
		t.Fatal("RS256 key is not RSA")
	}
	if _, ok := m.SigningKey("ES256").Key().(*ecdsa.PrivateKey); !ok {
		t.Fatal("ES256 key is not ECDSA")
	}
	if m.SigningKey("PS512").SignatureAlgorithm() != "RS256" {
		t.Fatal("unknown alg must fall back to RS256")
	}
	for _, k := range m.KeySet() {
		switch k.Key().(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			t.Fatalf("JWKS exposes a non-public key: %T", k.Key())
		}
	}
	old := m.SigningKey("ES256").ID()
	published := map[string]bool{}
	for _, k := range m.KeySet() {
		published[k.ID()] = true
	}
	if err := m.Rotate(ctx, "ES256", manage.Actor{}); err != nil {
		t.Fatal(err)
	}
	now := m.SigningKey("ES256").ID()
	if now == old || !published[now] {
		t.Fatalf("new current %s must differ from %s and have been published before it signs", now, old)
	}
	ids := map[string]bool{}
	for _, k := range m.KeySet() {
		if ids[k.ID()] {
			t.Fatalf("duplicate kid %s", k.ID())
		}
		ids[k.ID()] = true
	}
	if !ids[old] || len(ids) != 5 {
		t.Fatalf("retired key must stay published: %v", ids)
	}
	if err := m.Rotate(ctx, "HS256", manage.Actor{}); err == nil {
		t.Fatal("rotating an unconfigured algorithm must fail")
	}
	evs, _ := store.ListAudit(ctx, storage.AuditFilter{Type: "signing_keys_rotated"})
	if len(evs) != 1 {
		t.Fatalf("audit rows: %d", len(evs))
	}
	// A second replica on the same store adopts the same keys and, with a
	// wrong encryption key, refuses to start.
	m2, err := keys.New(ctx, store, box(t, 1), keys.Config{Algorithms: []string{"ES256"}, RetiredFor: time.Hour}, nil)
	if err != nil || m2.SigningKey("ES256").ID() != now {
		t.Fatalf("second replica: %v", err)
	}
	if _, err := keys.New(ctx, store, box(t, 2), keys.Config{}, nil); err == nil {
		t.Fatal("wrong encryption key accepted")
	}
}

// Private keys are stored sealed, never in plain PKCS#8.
func TestSealedAtRest(t *testing.T) {
	store := memory.New(nil)
	if _, err := keys.New(ctx, store, box(t, 1), keys.Config{}, nil); err != nil {
		t.Fatal(err)
	}
	stored, _ := store.SigningKeys(ctx)
	for _, k := range stored {
		if bytes.Contains(k.PrivateKeySealed, []byte{0x30, 0x82}) && len(k.PrivateKeySealed) > 0 && k.PrivateKeySealed[0] == 0x30 {
			t.Fatal("private key stored as plain DER")
		}
	}
}

// Scheduled rotation: replicas that find the key due at the same moment
// rotate it once; the key promoted was already published to all of them;
// a key not yet due is left alone.
func TestScheduledRotationHappensOncePerInterval(t *testing.T) {
	store := memory.New(nil)
	clock := time.Now()
	now := func() time.Time { return clock }
	cfg := keys.Config{Algorithms: []string{"ES256"}, RetiredFor: time.Hour, RotationInterval: time.Hour}
	var replicas []*keys.Manager
	for range 4 {
		m, err := keys.New(ctx, store, box(t, 1), cfg, now)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, m)
	}
	before := replicas[0].SigningKey("ES256").ID()
	for _, m := range replicas { // not due yet
		if err := m.RotateDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if replicas[0].SigningKey("ES256").ID() != before {
		t.Fatal("a key that was not due was rotated")
	}
	published := map[string]bool{}
	for _, k := range replicas[1].KeySet() {
		published[k.ID()] = true
	}
	clock = clock.Add(2 * time.Hour)
	done := make(chan error, len(replicas))
	for _, m := range replicas {
		go func() { done <- m.RotateDue(ctx) }()
	}
	for range replicas {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	rotations := 0
	evs, _ := store.ListAudit(ctx, storage.AuditFilter{Type: string(manage.EventSigningKeysRotated)})
	for _, ev := range evs {
		if ev.Details["alg"] == "ES256" {
			rotations++
		}
	}
	if rotations != 1 {
		t.Fatalf("%d rotations of ES256 by four replicas, want exactly 1", rotations)
	}
	for _, m := range replicas {
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	now1 := replicas[0].SigningKey("ES256").ID()
	if now1 == before || !published[now1] {
		t.Fatalf("promoted %s: rotated %v, published before use %v", now1, now1 != before, published[now1])
	}
}
