package password_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/optibid/idp/login/password"
)

var ctx = context.Background()

// fast keeps the suite quick; the production parameters are benchmarked.
func fast() *password.Hasher {
	return password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 4, time.Second)
}

func TestHashVerify(t *testing.T) {
	h := fast()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("not PHC argon2id: %s", hash)
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"", false},
	}
	for _, tc := range tests {
		ok, rehash, err := h.Verify(ctx, hash, tc.pw)
		if err != nil || ok != tc.want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v", tc.pw, ok, rehash, err)
		}
	}
	other, _ := h.Hash(ctx, "correct horse battery staple")
	if other == hash {
		t.Fatal("salt not random")
	}
}

// A stronger configured cost flags old hashes for rehashing on login.
func TestStaleParamsNeedRehash(t *testing.T) {
	hash, _ := fast().Hash(ctx, "pw-pw-pw-pw")
	stronger := password.NewHasher(password.Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1}, 1, time.Second)
	ok, rehash, err := stronger.Verify(ctx, hash, "pw-pw-pw-pw")
	if !ok || !rehash || err != nil {
		t.Fatalf("ok=%v rehash=%v err=%v", ok, rehash, err)
	}
}

func TestUnicodeNFKC(t *testing.T) {
	h := fast()
	hash, _ := h.Hash(ctx, "ﬁancé-passphrase") // U+FB01 ligature
	if ok, _, _ := h.Verify(ctx, hash, "fiancé-passphrase"); !ok {
		t.Fatal("NFKC-equivalent password rejected")
	}
}

// CHECKS #45: a 100-byte password with byte 80 changed must fail (no
// truncation, no bcrypt 72-byte trap).
func TestNoTruncation(t *testing.T) {
	h := fast()
	pw := strings.Repeat("a", 100)
	changed := pw[:79] + "b" + pw[80:]
	hash, _ := h.Hash(ctx, pw)
	if ok, _, _ := h.Verify(ctx, hash, changed); ok {
		t.Fatal("argon2id: byte 80 ignored")
	}
	legacy, err := bcrypt.GenerateFromPassword([]byte(pw[:72]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(ctx, string(legacy), pw); ok {
		t.Fatal("bcrypt: password longer than 72 bytes accepted by prefix")
	}
}

func TestBcryptImportRehash(t *testing.T) {
	h := fast()
	legacy, _ := bcrypt.GenerateFromPassword([]byte("old-system-pass"), 12)
	ok, rehash, err := h.Verify(ctx, string(legacy), "old-system-pass")
	if !ok || !rehash || err != nil {
		t.Fatalf("bcrypt verify: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(ctx, string(legacy), "wrong"); ok {
		t.Fatal("wrong bcrypt password accepted")
	}
}

func TestUnknownUserAndMalformed(t *testing.T) {
	h := fast()
	if ok, _, err := h.Verify(ctx, "", "anything"); ok || err != nil {
		t.Fatalf("empty hash: %v %v", ok, err)
	}
	for _, bad := range []string{"plain", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5", "$2a$04$short"} {
		if ok, _, err := h.Verify(ctx, bad, "x"); ok || err == nil {
			t.Errorf("%q: ok=%v err=%v, want malformed", bad, ok, err)
		}
	}
}

// The pool sheds load: with one slot held, a second caller gives up after
// the wait with ErrBusy rather than queueing without bound.
func TestPoolSheds(t *testing.T) {
	h := password.NewHasher(password.Params{MemoryKiB: 64 * 1024, Iterations: 3, Parallelism: 1}, 1, 5*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.Hash(ctx, "x")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	busy := 0
	for err := range errs {
		if errors.Is(err, password.ErrBusy) {
			busy++
		}
	}
	if busy == 0 {
		t.Fatal("no request was shed")
	}
}

func BenchmarkArgon2idDefault(b *testing.B) {
	h := password.NewHasher(password.DefaultParams(), 1, time.Minute)
	hash, _ := h.Hash(ctx, "benchmark-password")
	b.ResetTimer()
	for b.Loop() {
		_, _, _ = h.Verify(ctx, hash, "benchmark-password")
	}
}
