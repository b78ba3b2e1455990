// Package provider is the OpenID Provider: it builds the zitadel/oidc engine
// (op.NewProvider), adapts our storage to the engine's interfaces, and owns
// the parts the engine leaves open or gets wrong for us:
//
//   - /authorize and its callback: strict parameter checks (exact redirect
//     URIs, duplicated parameters, code-only, PKCE S256 required for public
//     clients and plain refused), friendly error pages for requests that
//     cannot be redirected, RFC 9207 `iss` on every authorization response,
//     and binding of each auth request to the browser that started it;
//   - single-use codes, refresh rotation with family revocation on reuse,
//     token ownership on revoke/introspect: all enforced by storage;
//   - discovery (computed once, served from memory) and a response filter on
//     the engine's JSON endpoints that adds no-store and WWW-Authenticate,
//     turns storage outages into 503 with Retry-After, and never lets a Go
//     error string reach a client.
//
// Login screens live in package login; cmd wires the two together.
package provider
