package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestRFC9106 is the argon2id test vector of RFC 9106 §5.3, which uses a
// secret and associated data that Key does not take.
func TestRFC9106(t *testing.T) {
	defer func(sse4 bool) { useSSE4 = sse4 }(useSSE4)
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	pw := bytes.Repeat([]byte{1}, 32)
	salt := bytes.Repeat([]byte{2}, 16)
	secret := bytes.Repeat([]byte{3}, 8)
	ad := bytes.Repeat([]byte{4}, 12)
	for _, sse4 := range []bool{useSSE4, false} {
		useSSE4 = sse4
		var m Memory
		if got := hex.EncodeToString(deriveKey(&m, argon2id, pw, salt, secret, ad, 3, 32, 4, 32)); got != want {
			t.Errorf("SSE4.1 %v: got %s, want %s", sse4, got, want)
		}
	}
}

// TestSameAsUpstream checks Key against x/crypto's argon2
// IDKey, through one Memory used in an order that would show a leftover:
// larger, smaller, larger again, the same twice, several lanes.
func TestSameAsUpstream(t *testing.T) {
	var m Memory
	cases := []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{2, 4096, 1, 32},
		{1, 64, 1, 24},
		{3, 256, 2, 32},
		{2, 4096, 1, 32},
		{2, 4096, 1, 32},
		{1, 19, 1, 16}, // rounded down to a multiple of 4 lanes' segments
		{1, 3, 1, 16},  // rounded up to the minimum of 8 KiB per lane
		{1, 20, 4, 16}, // the same, with four lanes
		{4, 4096, 4, 64},
		{2, 1024, 1, 32},
	}
	for i, c := range cases {
		pw := []byte(fmt.Sprintf("password %d", i%3))
		salt := []byte("somesalt-sixteen")
		want := argon2.IDKey(pw, salt, c.time, c.memory, c.threads, c.keyLen)
		if got := m.Key(pw, salt, c.time, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
			t.Errorf("case %d %+v: got %x, want %x", i, c, got, want)
		}
	}
	if m.Size() != 4096 {
		t.Errorf("Size() = %d, want the largest cost asked for, 4096", m.Size())
	}
}

// TestVectors are upstream's argon2id vectors (password "password", salt
// "somesalt").
func TestVectors(t *testing.T) {
	var m Memory
	for _, v := range []struct {
		time, memory uint32
		threads      uint8
		hash         string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
	} {
		got := hex.EncodeToString(m.Key([]byte("password"), []byte("somesalt"), v.time, v.memory, v.threads, 24))
		if got != v.hash {
			t.Errorf("%+v: got %s", v, got)
		}
	}
}

// BenchmarkKey compares a reused Memory with upstream's fresh allocation
// at the default cost (m=19 MiB, t=2, p=1).
func BenchmarkKey(b *testing.B) {
	pw, salt := []byte("correct horse battery staple"), []byte("somesalt-sixteen")
	b.Run("reused", func(b *testing.B) {
		var m Memory
		for b.Loop() {
			m.Key(pw, salt, 2, 19*1024, 1, 32)
		}
	})
	b.Run("upstream", func(b *testing.B) {
		for b.Loop() {
			argon2.IDKey(pw, salt, 2, 19*1024, 1, 32)
		}
	})
}
