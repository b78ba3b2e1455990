package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/optibid/idp/storage/postgres"
)

// Migrate applies the pending PostgreSQL migrations under the advisory
// lock (up), or reports each migration's state; either way it returns the
// lines to show the operator.
func Migrate(ctx context.Context, cfg *Config, up bool) ([]string, error) {
	if cfg.Storage.Type != "postgres" {
		return nil, errors.New("migrate: storage.type is memory; there is nothing to migrate")
	}
	pg, err := postgres.Open(ctx, cfg.Storage.Postgres)
	if err != nil {
		return nil, err
	}
	defer pg.Close()
	if up {
		applied, err := pg.Migrate(ctx)
		if err != nil {
			return nil, err
		}
		if len(applied) == 0 {
			return []string{"schema is up to date"}, nil
		}
		lines := make([]string, 0, len(applied))
		for _, m := range applied {
			lines = append(lines, "applied "+m)
		}
		return lines, nil
	}
	st, err := pg.MigrationStatus(ctx)
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(st))
	for _, m := range st {
		state := "pending"
		if m.Applied {
			state = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		}
		lines = append(lines, fmt.Sprintf("%05d  %-40s %s", m.Version, m.Path, state))
	}
	return lines, nil
}
