package provider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// compactSigner signs JWS Compact Serializations (RFC 7515 §7.1) with one
// key under one JOSE typ. The protected header is encoded once, when the
// signer is made: per token, only the payload is encoded and signed.
// go-jose's signer did the same work generically (a header map, its own
// JSON encoder, its serializer), which was 9% of a client_credentials
// request's CPU besides the signature itself (docs/benchmarks.md, "Side
// by side with the bare engine"). Verification stays with go-jose.
type compactSigner struct {
	prefix []byte // BASE64URL(UTF8(protected header)) || "."
	key    crypto.Signer
}

// newCompactSigner makes the signer for key (RS256 or ES256) and typ.
func newCompactSigner(key op.SigningKey, typ string) (*compactSigner, error) {
	alg := string(key.SignatureAlgorithm())
	priv, ok := key.Key().(crypto.Signer)
	switch {
	case !ok:
		return nil, fmt.Errorf("provider: signer: key %s is no crypto.Signer", key.ID())
	case alg == "ES256":
		if k, ok := priv.(*ecdsa.PrivateKey); !ok || k.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("provider: signer: key %s is no P-256 key", key.ID())
		}
	case alg == "RS256":
		if _, ok := priv.(*rsa.PrivateKey); !ok {
			return nil, fmt.Errorf("provider: signer: key %s is no RSA key", key.ID())
		}
	default:
		return nil, fmt.Errorf("provider: signer: unsupported algorithm %q", alg)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, key.ID(), typ})
	if err != nil {
		return nil, fmt.Errorf("provider: signer: %w", err)
	}
	prefix := base64.RawURLEncoding.AppendEncode(nil, header)
	return &compactSigner{prefix: append(prefix, '.'), key: priv}, nil
}

// sign returns header.payload.signature for payload.
func (s *compactSigner) sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.prefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(256))
	buf = append(buf, s.prefix...)
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := s.signature(digest[:])
	if err != nil {
		return "", fmt.Errorf("provider: sign: %w", err)
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// signature is the JWS signature of a SHA-256 digest: RSASSA-PKCS1-v1_5,
// or for ES256 the fixed-width R || S of RFC 7518 §3.4 (not ASN.1).
func (s *compactSigner) signature(digest []byte) ([]byte, error) {
	k, ok := s.key.(*ecdsa.PrivateKey)
	if !ok {
		return s.key.Sign(rand.Reader, digest, crypto.SHA256)
	}
	r, ss, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	ss.FillBytes(out[32:])
	return out, nil
}

// signers caches one compactSigner per key and token type.
type signers struct{ m sync.Map } // "kid typ" → *compactSigner

func (s *signers) get(key op.SigningKey, typ string) (*compactSigner, error) {
	id := key.ID() + " " + typ
	if v, ok := s.m.Load(id); ok {
		return v.(*compactSigner), nil
	}
	sig, err := newCompactSigner(key, typ)
	if err != nil {
		return nil, err
	}
	s.m.Store(id, sig)
	return sig, nil
}
