package provider

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

type testKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k testKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k testKey) Key() any                                    { return k.priv }
func (k testKey) ID() string                                  { return "kid-" + string(k.alg) }

// TestCompactSignerVerifiesWithGoJose: every token the signer makes
// verifies with go-jose under the key's public half, with exactly the
// header alg, kid and typ, and the payload unchanged. ES256 runs often
// enough that R or S with a leading zero byte (1 in 128 signatures) is
// among them: the signature must stay 64 bytes.
func TestCompactSignerVerifiesWithGoJose(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	padded := 0
	for _, c := range []struct {
		key testKey
		n   int
	}{{testKey{jose.ES256, ec}, 1500}, {testKey{jose.RS256, rs}, 20}} {
		s, err := newCompactSigner(c.key, accessTokenType)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.n {
			payload := fmt.Appendf(nil, `{"sub":"user-%d","n":%d}`, i, i)
			tok, err := s.sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{c.key.alg})
			if err != nil {
				t.Fatalf("%s: %v", c.key.alg, err)
			}
			got, err := jws.Verify(c.key.priv.Public())
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("%s token %d does not verify: %v", c.key.alg, i, err)
			}
			h := jws.Signatures[0].Header
			if h.Algorithm != string(c.key.alg) || h.KeyID != c.key.ID() || h.ExtraHeaders[jose.HeaderType] != accessTokenType || len(h.ExtraHeaders) != 1 {
				t.Fatalf("header %+v", h)
			}
			if c.key.alg == jose.ES256 {
				sig, _ := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
				if len(sig) != 64 {
					t.Fatalf("ES256 signature of %d bytes", len(sig))
				}
				if sig[0] == 0 || sig[32] == 0 {
					padded++
				}
			}
		}
	}
	// About 12 expected; none in 1,500 has odds of about 1 in 100,000.
	if padded == 0 {
		t.Fatal("no ES256 signature had R or S with a leading zero byte: the padding went untested")
	}
}

// TestCompactSignerRefusesMismatchedKeys: a key whose type does not match
// its algorithm, or an algorithm we do not sign with, makes no signer.
func TestCompactSignerRefusesMismatchedKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, k := range []testKey{{jose.RS256, ec}, {jose.ES256, rs}, {jose.ES256, p384}, {jose.PS256, rs}, {jose.ES384, p384}} {
		if _, err := newCompactSigner(k, accessTokenType); err == nil {
			t.Errorf("%s with a %T made a signer", k.alg, k.priv)
		}
	}
}
