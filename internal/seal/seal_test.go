package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/optibid/idp/internal/seal"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	b, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal([]byte("secret"), []byte("kid-1"))
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("plaintext visible")
	}
	got, err := b.Open(sealed, []byte("kid-1"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("kid-2")); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("wrong additional data must fail")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed, []byte("kid-1")); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("tampered data must fail")
	}
	other, _ := seal.New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(b.Seal([]byte("x"), nil), nil); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("wrong key must fail")
	}
	if _, err := b.Open([]byte{1}, nil); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("short input must fail")
	}
	if _, err := seal.New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := seal.ParseKey("dG9vIHNob3J0"); err == nil {
		t.Fatal("short base64 key accepted")
	}
	if k, err := seal.ParseKey("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); err != nil || len(k) != 32 {
		t.Fatalf("parse: %v", err)
	}
}
