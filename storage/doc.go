// Package storage defines the identity provider's domain types, the small
// per-aggregate interfaces that backends implement, and the sentinel errors
// they return.
//
// Backends (storage/memory, storage/postgres) import this package, never the
// reverse. Every backend must pass the conformance suite in
// storage/storagetest, which pins the semantics documented here: single-use
// authorization codes, refresh-token rotation with family revocation on reuse,
// exact failure counters under concurrency, and audit rows written in the same
// transaction as the action they record.
//
// Both backends and the suite keep each aggregate in a file of the same
// name: accounts.go (organizations, users, memberships, logins), clients.go,
// tokens.go (auth requests, grants, sessions, action tokens, keys), mfa.go,
// audit.go, apis.go (APIs, consents, rate limits), dashboards.go,
// entitlements.go, federation.go, invitations.go and privacy.go; memory.go
// and postgres.go hold only the store, its plumbing and maintenance
// (storagetest.go the suite's runner and helpers). A test in this package
// keeps the three file lists equal.
//
// All times are UTC. Secrets (refresh tokens, session IDs, codes, client
// secrets) are never stored; only their SHA-256 hashes are.
package storage
