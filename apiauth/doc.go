// Package apiauth verifies the access tokens OptiBid Identity issues, for
// the APIs (resource servers) that accept them. An API verifies tokens in
// one line:
//
//	protect, err := apiauth.Protect(ctx, "https://id.optibid.example", "https://api.optibid.example/trading")
//	...
//	http.ListenAndServe(addr, protect(mux))
//
// and checks what a caller may do per route:
//
//	v, err := apiauth.New(ctx, apiauth.Config{Issuer: issuer, Audience: audience})
//	mux.Handle("POST /bids", v.RequireScope("bids:submit")(v.RequirePermission("bids:submit")(submit)))
//	// in the handler: tok, _ := apiauth.FromContext(r.Context())
//
// Tokens are JWT access tokens (RFC 9068). Whatever library an API uses
// instead of this one, it needs these settings, each of which an attacker
// can exploit when left at a permissive default:
//
//   - the issuer, compared exactly with the `iss` claim;
//   - the API's own audience, which `aud` (a string or an array) must
//     contain: a token issued to another API must not work here;
//   - the allowed algorithms, ES256 and RS256: never "none" and never HS*
//     (an HMAC "signed" with our public key would otherwise verify);
//   - the JOSE header `typ` "at+jwt" (or "application/at+jwt"), which is
//     what tells an access token from an ID token of the same issuer;
//   - keys from the issuer's JWKS only, chosen by `kid`, never from keys or
//     URLs in the token header (jwk, jku, x5u);
//   - a small clock leeway (here 30s by default, at most 2m) on exp, nbf
//     and iat.
//
// # What New does, and when it talks to the network
//
// New validates the Config and then fetches, with its context, the
// issuer's discovery document (<issuer>/.well-known/openid-configuration)
// and its JWKS, so that a wrong issuer fails at start, not at the first
// request. Discovery is not refetched afterwards. The JWKS is cached and
// refetched when a token names an unknown `kid` (key rotation) or when the
// cache is older than ten minutes (key removal). Refetches are
// singleflighted and at most one per JWKSRefreshMinInterval, so a flood of
// made-up `kid`s costs the issuer at most one request per interval. A
// request waits for a refetch only when its `kid` is unknown; an old cache
// is refreshed in the background, and when that fails the keys already
// known keep working.
//
// Verification is otherwise offline: a revoked token stays valid until it
// expires. An API that must see revocation configures Introspection
// (RFC 7662); every token that verifies offline is then also introspected,
// with the answer cached by token hash for CacheTTL and never beyond the
// token's expiry.
//
// # Errors
//
// Verify's errors match (errors.Is) ErrInvalidToken when the token is at
// fault (ErrExpired, ErrNotYetValid, ErrWrongIssuer, ErrWrongAudience and
// ErrInactive are kinds of it), and ErrUnavailable when the issuer could
// not be reached; the middleware answers 401 and 503 respectively. Error
// text goes to the injected logger, never to the client.
package apiauth
