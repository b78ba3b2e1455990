package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// UserData reads in one REPEATABLE READ transaction, so the parts agree.
func (s *Store) UserData(ctx context.Context, userID string) (storage.UserData, error) {
	var d storage.UserData
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if d.User, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, userID)); err != nil {
			return err
		}
		if d.Memberships, err = collect(ctx, tx, scanMembership, `SELECT user_id, org_id, role, created_at, updated_at FROM user_organization_membership WHERE user_id = $1 ORDER BY created_at`, userID); err != nil {
			return err
		}
		if d.Sessions, err = collect(ctx, tx, func(r pgx.CollectableRow) (storage.Session, error) {
			var ss storage.Session
			var revoked *time.Time
			err := r.Scan(&ss.IDHash, &ss.UserID, &ss.AuthTime, &ss.AMR, &ss.CreatedAt, &ss.LastSeenAt, &ss.ExpiresAt, &revoked, &ss.IP, &ss.UserAgent)
			ss.RevokedAt = fromNull(revoked)
			return ss, err
		}, `SELECT id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent
			FROM user_sessions WHERE user_id = $1 ORDER BY created_at`, userID); err != nil {
			return err
		}
		if d.Grants, err = collect(ctx, tx, func(r pgx.CollectableRow) (storage.Grant, error) {
			var g storage.Grant
			var revoked *time.Time
			err := r.Scan(grantDest(&g, &revoked)...)
			fixGrant(&g, revoked)
			return g, err
		}, `SELECT `+grantCols+` FROM grants g WHERE g.user_id = $1 ORDER BY g.created_at`, userID); err != nil {
			return err
		}
		if d.Identities, err = collect(ctx, tx, func(r pgx.CollectableRow) (storage.FederatedIdentity, error) {
			var fi storage.FederatedIdentity
			err := r.Scan(&fi.ConnectionID, &fi.Issuer, &fi.Subject, &fi.UserID, &fi.Email, &fi.CreatedAt, &fi.LastLoginAt)
			return fi, err
		}, `SELECT connection_id, issuer, subject, user_id, email, created_at, last_login_at
			FROM federated_identities WHERE user_id = $1 ORDER BY created_at`, userID); err != nil {
			return err
		}
		var t storage.TOTP
		var confirmed *time.Time
		err = tx.QueryRow(ctx, `SELECT user_id, secret_sealed, confirmed_at, last_step, created_at FROM mfa_totp WHERE user_id = $1`,
			userID).Scan(&t.UserID, &t.SecretSealed, &confirmed, &t.LastStep, &t.CreatedAt)
		switch {
		case err == nil:
			t.ConfirmedAt = fromNull(confirmed)
			d.TOTP = &t
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&d.BackupCodes); err != nil {
			return err
		}
		dash, err := collect(ctx, tx, func(r pgx.CollectableRow) ([2][]byte, error) {
			var org string
			var layout []byte
			err := r.Scan(&org, &layout)
			return [2][]byte{[]byte(org), layout}, err
		}, `SELECT org_id, layout FROM dashboard_preferences WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		for _, x := range dash {
			if d.Dashboards == nil {
				d.Dashboards = map[string][]byte{}
			}
			d.Dashboards[string(x[0])] = x[1]
		}
		if d.Usage, err = collect(ctx, tx, func(r pgx.CollectableRow) (storage.UsageCount, error) {
			var u storage.UsageCount
			err := r.Scan(&u.OrgID, &u.UserID, &u.FeatureKey, &u.Day, &u.Count)
			return u, err
		}, `SELECT org_id, user_id, feature_key, day, count FROM feature_usage WHERE user_id = $1 ORDER BY day, feature_key`, userID); err != nil {
			return err
		}
		d.Audit, err = collect(ctx, tx, scanAudit, `SELECT `+auditCols+` FROM audit_log WHERE actor_id = $1 OR subject_id = $1 ORDER BY time, id`, userID)
		return err
	})
	return d, translate(err)
}

func collect[T any](ctx context.Context, tx pgx.Tx, fn pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, fn)
}

// EraseUser runs as one transaction: the owner check, the deletions, and
// ev. The server's role may not UPDATE audit_log, so the account row and
// the audit pseudonymization go through erase_user_audit (migrations 00015
// and 00018), a function of the schema's owner that deletes the user (the
// foreign keys cascade from users), rewrites only that user's rows, only
// as erasure does, appends the erasure's record (storage.AuditErasureType)
// and keeps the ID from ever being an account again; the rows' hash
// chains stay intact.
func (s *Store) EraseUser(ctx context.Context, userID, pseudonym string, ev storage.AuditEvent) error {
	if !strings.HasPrefix(pseudonym, storage.ErasedPrefix) || pseudonym == storage.ErasedPrefix || pseudonym == userID {
		return errors.New("postgres: erasure needs an " + storage.ErasedPrefix + "… pseudonym")
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var email string
		if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&email); err != nil {
			return err
		}
		// Lock the owner rows of the user's organizations, as
		// SetMemberRole does, so a concurrent demotion cannot race us.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM user_organization_membership WHERE org_id IN
				(SELECT org_id FROM user_organization_membership WHERE user_id = $1) AND role = 'owner' FOR UPDATE`, userID); err != nil {
			return err
		}
		var lastOwner bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (
				SELECT 1 FROM user_organization_membership m WHERE m.user_id = $1 AND m.role = 'owner'
				AND (SELECT count(*) FROM user_organization_membership o WHERE o.org_id = m.org_id AND o.role = 'owner') = 1)`,
			userID).Scan(&lastOwner); err != nil {
			return err
		}
		if lastOwner {
			return storage.ErrLastOwner
		}
		for _, q := range []string{
			`DELETE FROM auth_requests WHERE user_id = $1 OR pending_user_id = $1`,
			`DELETE FROM feature_usage WHERE user_id = $1`,
			`DELETE FROM passkey_challenges WHERE user_id = $1`,
			`DELETE FROM invitations WHERE accepted_by = $1 OR email = (SELECT email FROM users WHERE id = $1)`,
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SELECT erase_user_audit($1, $2)`, userID, pseudonym); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}
