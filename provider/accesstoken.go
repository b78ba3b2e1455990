package provider

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/optibid/idp/provider/claims"
)

// Access tokens are RFC 9068 JWTs: header typ "at+jwt", aud the API(s) they
// are for (the client only when no API is involved: a token for userinfo).
// We mint and verify them ourselves, because the engine signs every JWT
// with typ "JWT" and cannot tell an ID token from an access token.

// accessTokenType is the JOSE typ of our access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// signJWT signs payload with the current key of alg under JOSE type typ.
func (p *Provider) signJWT(alg, typ string, payload any) (string, error) {
	sig, err := p.signers.get(p.keys.SigningKey(alg), typ)
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	return sig.sign(raw)
}

// errNotAccessToken: not one of our access tokens (bad signature, another
// issuer, an ID token, expired, malformed).
var errNotAccessToken = errors.New("provider: not a valid access token")

// accessTokenLeeway absorbs clock differences between replicas.
const accessTokenLeeway = 30 * time.Second

// verifyAccessToken checks that raw is an access token we issued and that
// it is within its lifetime: signature by a published key, typ at+jwt
// (ID tokens are refused), iss, exp and nbf. Revocation is the caller's
// check.
func (p *Provider) verifyAccessToken(raw string) (*claims.AccessToken, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errNotAccessToken
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return nil, errNotAccessToken
	}
	var payload []byte
	for _, k := range p.keys.KeySet() {
		if k.ID() != h.KeyID || string(k.Algorithm()) != h.Algorithm {
			continue
		}
		if payload, err = jws.Verify(k.Key()); err != nil {
			return nil, errNotAccessToken
		}
		break
	}
	if payload == nil {
		return nil, errNotAccessToken
	}
	var c claims.AccessToken
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errNotAccessToken
	}
	now := p.now()
	if c.Issuer != p.cfg.Issuer || c.JWTID == "" || c.Subject == "" || len(c.Audience) == 0 ||
		!now.Before(time.Unix(c.Expiry, 0).Add(accessTokenLeeway)) || now.Add(accessTokenLeeway).Before(time.Unix(c.NotBefore, 0)) {
		return nil, errNotAccessToken
	}
	return &c, nil
}

// grantOf parses a jti: ("", true) for a client's own tokens
// (c.<random>), (grant, true) for users' tokens (g.<grant>.<random>), false
// for anything else.
func grantOf(jti string) (string, bool) {
	switch {
	case strings.HasPrefix(jti, "c.") && len(jti) > 2:
		return "", true
	case strings.HasPrefix(jti, "g."):
		rest := jti[2:]
		i := strings.IndexByte(rest, '.')
		if i <= 0 {
			return "", false
		}
		return rest[:i], true
	}
	return "", false
}
