// Package random produces the project's unguessable values: tokens, IDs and
// codes, all from crypto/rand.
package random

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// Token returns n random bytes, base64url-encoded without padding. Use
// n = 32 for every bearer secret (codes, refresh tokens, session IDs,
// client secrets): 256 bits.
func Token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ID returns a 128-bit random identifier as 32 hex characters.
func ID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
