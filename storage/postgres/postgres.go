// Package postgres is the production storage backend on PostgreSQL (pgx v5).
//
// Hot paths are single statements (CTEs that update, insert the audit row and
// return in one round trip), so they are atomic without an explicit
// transaction: code redemption, refresh rotation, failed-login counting.
// Driver errors are translated to storage sentinels here and nowhere else.
package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/internal/telemetry"
	"github.com/optibid/idp/migrations"
	"github.com/optibid/idp/storage"
)

// Config configures the PostgreSQL backend.
type Config struct {
	// DSN is a libpq connection string or URL.
	DSN string `yaml:"dsn"`
	// MaxConns caps the pool (default 20). A request that cannot get a
	// connection within StatementTimeout fails with storage.ErrUnavailable
	// (503) instead of queueing without bound.
	MaxConns int32 `yaml:"max_conns"`
	// StatementTimeout bounds every statement, waiting for a connection
	// included (default 5s).
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	// AutoMigrate applies pending migrations at start (default true).
	AutoMigrate *bool `yaml:"auto_migrate"`
	// Tracer observes every statement (benchmarks count round trips with
	// it); not configurable from YAML.
	Tracer pgx.QueryTracer `yaml:"-"`
}

// Store implements storage.Store on a pgx pool.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	claims  chan struct{} // code claims held (ClaimCode), each on a connection of its own
}

var _ storage.Store = (*Store)(nil)

// Open connects to PostgreSQL. It does not migrate; call Migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	pc.MaxConns = 20
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pc.ConnConfig.Tracer = telemetry.QueryTracer{Next: cfg.Tracer}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	timeout := 5 * time.Second
	if cfg.StatementTimeout > 0 {
		timeout = cfg.StatementTimeout
	}
	return &Store{pool: pool, timeout: timeout, claims: make(chan struct{}, max(1, pc.MaxConns/4))}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the pool for tests that inspect the schema directly.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) migrator() (*goose.Provider, *sql.DB, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(migrationLock{}))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db, nil
}

// migrationLock is the session-level advisory lock that serializes
// migrations. It keeps goose's lock ID, so replicas of older builds still
// serialize with this one, but polls every 100ms rather than every 5s (a
// replica starting beside a migrating one waits for the migration, not for
// a poll), and gives up when the caller's context ends or after 5 minutes,
// goose's own bound.
type migrationLock struct{}

var _ lock.SessionLocker = migrationLock{}

const (
	migrationLockPoll = 100 * time.Millisecond
	migrationLockWait = 5 * time.Minute
)

// SessionLock implements lock.SessionLocker.
func (migrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, migrationLockWait)
	defer cancel()
	tick := time.NewTicker(migrationLockPoll)
	defer tick.Stop()
	for {
		var locked bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, lock.DefaultLockID).Scan(&locked); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if locked {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration lock: another migration holds it: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// SessionUnlock implements lock.SessionLocker. An unlock that fails on a
// broken connection leaves nothing behind: the lock ends with the session.
func (migrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var unlocked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, lock.DefaultLockID).Scan(&unlocked); err != nil {
		return fmt.Errorf("migration unlock: %w", err)
	}
	if !unlocked {
		return errors.New("migration unlock: the lock was not held")
	}
	return nil
}

// Migrate applies pending migrations under a PostgreSQL advisory lock, so
// several replicas may call it at once: one migrates, the others wait and
// then find nothing to do. The wait ends with ctx.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	p, db, err := s.migrator()
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	defer db.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, r := range res {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, db, err := s.migrator()
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	defer db.Close()
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationState{Version: m.Source.Version, Path: m.Source.Path,
			Applied: m.State == goose.StateApplied, AppliedAt: m.AppliedAt})
	}
	return out, nil
}

// MigrationState is one line of `migrate status`.
type MigrationState struct {
	Version   int64
	Path      string
	Applied   bool
	AppliedAt time.Time
}

// ctx bounds every call so that an exhausted pool or a stalled server
// surfaces as ErrUnavailable rather than a hung request.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return storage.Spend(ctx, s.timeout) // the statement timeout, or less of the request's budget
}

// translate maps driver errors to storage sentinels, keeping the cause.
// Every storage sentinel (storage.Sentinels) passes through unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	if storage.IsSentinel(err) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return fmt.Errorf("%w: %s", storage.ErrConflict, pgErr.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: %s", storage.ErrNotFound, pgErr.ConstraintName)
		case "57014", "55P03": // cancelled (the budget ran out), lock not available
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// tx runs fn in a transaction, translating errors.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	// The statements inside fn use their caller's context, so the server
	// bounds them: the transaction starts with statement and lock timeouts
	// of what is left of this bounded context (in the BEGIN's own round
	// trip), and the request's budget holds inside transactions too.
	opts := pgx.TxOptions{}
	if deadline, ok := ctx.Deadline(); ok {
		ms := max(time.Until(deadline).Milliseconds(), 1)
		opts.BeginQuery = fmt.Sprintf("BEGIN; SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d", ms, ms)
	}
	return translate(pgx.BeginTxFunc(ctx, s.pool, opts, fn))
}

// exec runs one statement and returns the rows affected.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, sql, args...)
	return tag.RowsAffected(), translate(err)
}

// execAudited runs one statement that must touch a row, plus ev, in a
// transaction; no row affected gives ErrNotFound.
func (s *Store) execAudited(ctx context.Context, ev storage.AuditEvent, sql string, args ...any) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

// --- audit helpers ---

const auditCols = `id, time, type, actor_id, subject_id, org_id, client_id, ip, user_agent, request_id, details`

// auditValues returns "$n, …, $n+10" for the 11 audit columns.
func auditValues(n int) string {
	out := ""
	for i := range 11 {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("$%d", n+i)
	}
	return out
}

func auditArgs(ev storage.AuditEvent, now time.Time) []any {
	if ev.ID == "" {
		ev.ID = random.ID()
	}
	if ev.Time.IsZero() {
		ev.Time = now
	}
	details := []byte("{}")
	if len(ev.Details) > 0 {
		details, _ = json.Marshal(ev.Details)
	}
	return []any{ev.ID, ev.Time.UTC(), ev.Type, ev.ActorID, ev.SubjectID, ev.OrgID, ev.ClientID,
		ev.IP, ev.UserAgent, ev.RequestID, details}
}

// insertAudit writes ev inside tx; an event without a type is not written.
func insertAudit(ctx context.Context, tx pgx.Tx, ev storage.AuditEvent) error {
	if ev.Type == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (`+auditCols+`) VALUES (`+auditValues(1)+`)`, auditArgs(ev, time.Now())...)
	return err
}

// --- NULL helpers: the domain uses zero values, SQL uses NULL ---

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func jsonOr(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// --- Maintenance ---

// Ping implements storage.Maintenance: reachable and no pending migration.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var pending int
	err := s.pool.QueryRow(ctx, `SELECT $1::bigint - coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`,
		latestVersion()).Scan(&pending)
	if err != nil {
		return translate(err)
	}
	if pending > 0 {
		return fmt.Errorf("%w: %d migrations pending", storage.ErrUnavailable, pending)
	}
	return nil
}

func latestVersion() int64 {
	entries, _ := migrations.FS.ReadDir(".")
	var v int64
	for _, e := range entries {
		var n int64
		if _, err := fmt.Sscanf(e.Name(), "%05d_", &n); err == nil && n > v {
			v = n
		}
	}
	return v
}

func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM auth_requests WHERE expires_at <= $1`,
		`DELETE FROM user_sessions WHERE expires_at <= $1`,
		`DELETE FROM refresh_tokens WHERE expires_at <= $1`,
		`DELETE FROM grants WHERE expires_at <= $1`,
		`DELETE FROM revoked_access_tokens WHERE expires_at <= $1`,
		`DELETE FROM signing_keys WHERE expires_at <= $1`,
		`DELETE FROM action_tokens WHERE expires_at <= $1`,
		`DELETE FROM otp_challenges WHERE expires_at <= $1`,
		`DELETE FROM sso_state WHERE expires_at <= $1`,
		`DELETE FROM passkey_challenges WHERE expires_at <= $1`,
		`DELETE FROM rate_limits WHERE expires_at <= $1`,
	} {
		n, err := s.exec(ctx, q, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

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
		if table == "" {
			continue // a full reload follows only a reconnection, never a message
		}
		f(table, key)
	}
}
