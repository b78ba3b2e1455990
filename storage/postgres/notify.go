package postgres

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// changesChannel is where migration 00016's triggers announce committed
// changes to clients, APIs, signing keys, the feature catalogue and
// organizations, as "<table>:<key>".
const changesChannel = "optibid_changes"

// Changes calls f(table, key) for every change committed by anyone (this
// replica, another one, the CLI) until ctx ends. It holds one connection
// of its own, outside the pool. Whenever it (re)connects it first calls
// f("", ""): changes made while it was not listening are unknown, so the
// caller reloads everything, and the periodic reload stays only a
// fallback.
func (s *Store) Changes(ctx context.Context, f func(table, key string)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := s.listen(ctx, f)
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond // it was up for a while: start over
		}
		if ctx.Err() != nil {
			return
		}
		slog.WarnContext(ctx, "change notifications lost; reconnecting", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Store) listen(ctx context.Context, f func(table, key string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	f("", "") // anything may have changed while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		table, key, _ := strings.Cut(n.Payload, ":")
		f(table, key)
	}
}
