// Package password hashes and verifies passwords: argon2id in PHC format for
// every new hash, bcrypt accepted for hashes imported from the old system
// (and flagged for rehashing), and a bounded pool so that a flood of login
// attempts queues briefly and is then shed instead of exhausting the CPU.
// Each slot of the pool keeps argon2id's working memory from one hash to
// the next (internal/argon2id), so sign-ins leave no garbage behind.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/optibid/idp/internal/telemetry"
	"github.com/optibid/idp/login/password/internal/argon2id"
	"github.com/optibid/idp/login/password/internal/zxcvbn"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id cost parameters. The defaults are OWASP's
// (m=19 MiB, t=2, p=1).
type Params struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
}

// DefaultParams are OWASP's argon2id recommendation.
func DefaultParams() Params { return Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1} }

// ErrBusy means every hashing slot stayed taken for the whole wait; the caller
// should answer 429 with Retry-After.
var ErrBusy = errors.New("password: hashing pool busy")

// ErrMalformedHash means the stored hash is in no format we know.
var ErrMalformedHash = errors.New("password: malformed hash")

// Hasher hashes and verifies through a bounded pool.
type Hasher struct {
	params Params
	slots  chan struct{}
	wait   time.Duration
	dummy  string // hash of a random password, verified for unknown users
	idle   *idleHook
	mem    memPool
	dicts  dictionaries
}

// NewHasher returns a Hasher allowing concurrency parallel hashes; a request
// waits at most wait for a slot.
func NewHasher(p Params, concurrency int, wait time.Duration) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency), wait: wait, mem: memPool{keep: p.MemoryKiB}}
	h.dummy = h.hash(randomBytes(16))
	// The reference hash ran once; its working set waits for no one.
	h.mem.drop()
	return h
}

func randomBytes(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return string(b)
}

// Normalize is the one form in which passwords are hashed: Unicode NFKC
// (NIST SP 800-63B §5.1.1.2), so that the same password typed on two
// keyboards matches.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

func (h *Hasher) acquire(ctx context.Context) error {
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	<-h.slots
	if h.idle != nil && len(h.slots) == 0 {
		h.idle.arm(h)
	}
}

// CheckPolicy returns a *PolicyError when pw breaks p (see Policy).
// hasMFA selects the minimum length; context (email, name, company) are
// words the password must not be built from. It runs inside the hashing
// pool: the strength estimate is CPU work an anonymous form can ask for,
// so it shares the bound (and the ErrBusy answer) of hashing.
func (h *Hasher) CheckPolicy(ctx context.Context, p Policy, pw string, hasMFA bool, context ...string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	return p.check(pw, hasMFA, h.score, context...)
}

// score is zxcvbn's estimate for pw (0–4). Its dictionaries are built on
// the first check and kept while passwords are being set; the idle hook
// drops them with argon2id's memory (see the zxcvbn package for why).
func (h *Hasher) score(pw string, words []string) int {
	est := h.dicts.get()
	h.keptMemory()
	return est.PasswordStrength(pw, words).Score
}

// dictionaries holds the strength estimator between policy checks.
type dictionaries struct {
	mu  sync.Mutex
	est *zxcvbn.Estimator
}

// get returns the estimator, building it (about 20 ms; 8 MB kept) when
// none is held. Checks in parallel share one build; the estimator is
// read-only once built.
func (d *dictionaries) get() *zxcvbn.Estimator {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.est == nil {
		d.est = zxcvbn.NewEstimator()
	}
	return d.est
}

// drop lets the collector have the dictionaries; checks still running
// keep what they hold.
func (d *dictionaries) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.est = nil
}

// Hash returns the PHC-format argon2id hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	ctx, span := telemetry.Span(ctx, "password.hash")
	if err := h.acquire(ctx); err != nil {
		telemetry.End(span, err)
		return "", err
	}
	defer h.release()
	defer span.End()
	return h.hash(Normalize(pw)), nil
}

func (h *Hasher) hash(pw string) string {
	salt := []byte(randomBytes(16))
	p := h.params
	key := h.argon2id([]byte(pw), salt, p, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2id.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify checks pw against hash. needsRehash is true when the hash is not
// argon2id with the current parameters (a bcrypt import, or old costs).
// An empty hash (unknown user, no password set) costs the same as a real
// check and never matches, so timing does not reveal which accounts exist.
func (h *Hasher) Verify(ctx context.Context, hash, pw string) (ok, needsRehash bool, err error) {
	ctx, span := telemetry.Span(ctx, "password.verify")
	defer func() { telemetry.End(span, err) }()
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	pw = Normalize(pw)
	if hash == "" {
		_, _, _ = h.verifyArgon(h.dummy, pw)
		return false, false, nil
	}
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		// bcrypt silently ignores bytes past 72: refuse longer passwords
		// rather than accept a prefix match.
		if len(pw) > 72 {
			return false, false, nil
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, false, nil
		}
		if err != nil {
			return false, false, fmt.Errorf("%w: %w", ErrMalformedHash, err)
		}
		return true, true, nil
	}
	ok, stale, err := h.verifyArgon(hash, pw)
	return ok, ok && stale, err
}

func (h *Hasher) verifyArgon(hash, pw string) (ok, stale bool, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, false, ErrMalformedHash
	}
	var version int
	var p Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2id.Version {
		return false, false, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		p.MemoryKiB == 0 || p.MemoryKiB > 1<<22 || p.Iterations == 0 || p.Iterations > 64 || p.Parallelism == 0 {
		return false, false, ErrMalformedHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) < 16 || len(want) > 128 {
		return false, false, ErrMalformedHash
	}
	got := h.argon2id([]byte(pw), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, p != h.params, nil
}

// argon2id derives the key in working memory from the pool. The caller
// holds a slot, or (NewHasher's reference hash) has the Hasher to itself.
func (h *Hasher) argon2id(pw, salt []byte, p Params, keyLen uint32) []byte {
	m := h.mem.get()
	defer h.mem.put(m)
	key := m.Key(pw, salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	h.keptMemory()
	return key
}

// memPool keeps argon2id's working memory from one hash to the next, so
// a burst of sign-ins costs one working set per slot instead of one per
// hash as garbage. There are never more than the slots in use, since
// each hash holds one while it runs; the idle hook drops them all.
type memPool struct {
	keep uint32 // the largest memory kept, in KiB: the configured cost
	mu   sync.Mutex
	free []*argon2id.Memory
}

func (p *memPool) get() *argon2id.Memory {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		return m
	}
	return new(argon2id.Memory)
}

// put keeps m unless it grew past the configured cost: checking an old
// hash made with more memory is rare, and keeping its working set would
// hold that much for good.
func (p *memPool) put(m *argon2id.Memory) {
	if m.Size() > p.keep {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, m)
}

// drop lets the collector have every working set not in use.
func (p *memPool) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = nil
}
