// Package migrations holds the PostgreSQL schema as numbered, forward-only
// SQL files, embedded into the binary. storage/postgres applies them with
// goose under a PostgreSQL advisory lock, so replicas may start together.
package migrations

import "embed"

// FS holds every migration file; goose reads the numbered *.sql files.
//
//go:embed *.sql
var FS embed.FS
