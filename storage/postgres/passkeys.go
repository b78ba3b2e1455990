package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

const passkeyCols = `id, user_id, name, public_key, attestation_type, aaguid, sign_count, backup_eligible, backup_state, transports, created_at, last_used_at`

func scanPasskey(row pgx.CollectableRow) (storage.Passkey, error) {
	var p storage.Passkey
	var count int64
	var used *time.Time
	err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.PublicKey, &p.AttestationType, &p.AAGUID, &count, &p.BackupEligible, &p.BackupState,
		&p.Transports, &p.CreatedAt, &used)
	p.SignCount, p.CreatedAt, p.LastUsedAt = uint32(count), p.CreatedAt.UTC(), fromNull(used)
	return p, err
}

func (s *Store) AddPasskey(ctx context.Context, p storage.Passkey, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO passkeys (`+passkeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			p.ID, p.UserID, p.Name, p.PublicKey, p.AttestationType, bytesOrEmpty(p.AAGUID), int64(p.SignCount), p.BackupEligible, p.BackupState,
			strs(p.Transports), p.CreatedAt.UTC(), nullTime(p.LastUsedAt)); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *Store) PasskeysByUser(ctx context.Context, userID string) ([]storage.Passkey, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, scanPasskey)
	return out, translate(err)
}

func (s *Store) PasskeyByID(ctx context.Context, id []byte) (storage.Passkey, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE id = $1`, id)
	if err != nil {
		return storage.Passkey{}, translate(err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPasskey)
	return p, translate(err)
}

// UsePasskey locks the row, so of two concurrent assertions with one
// count exactly one moves it (the other sees a counter that stood still).
func (s *Store) UsePasskey(ctx context.Context, id []byte, signCount uint32, backupState bool, now time.Time, cloneEv storage.AuditEvent) error {
	// The clone path commits its audit row before reporting, so the
	// sentinel travels in outcome, not as fn's error.
	var outcome error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		outcome = nil
		var stored int64
		if err := tx.QueryRow(ctx, `SELECT sign_count FROM passkeys WHERE id = $1 FOR UPDATE`, id).Scan(&stored); err != nil {
			return err
		}
		if int64(signCount) <= stored && (signCount != 0 || stored != 0) {
			outcome = storage.ErrCloned
			return insertAudit(ctx, tx, cloneEv)
		}
		_, err := tx.Exec(ctx, `UPDATE passkeys SET sign_count = $2, backup_state = $3, last_used_at = $4 WHERE id = $1`,
			id, int64(signCount), backupState, now.UTC())
		return err
	})
	if err != nil {
		return err
	}
	return outcome
}

func (s *Store) RenamePasskey(ctx context.Context, userID string, id []byte, name string, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2`, id, userID, name)
}

func (s *Store) DeletePasskey(ctx context.Context, userID string, id []byte, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
}

func (s *Store) CreatePasskeyChallenge(ctx context.Context, c storage.PasskeyChallenge) error {
	_, err := s.exec(ctx, `INSERT INTO passkey_challenges (id_hash, purpose, user_id, auth_request_id, browser_hash, session, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.IDHash, c.Purpose, c.UserID, c.AuthRequestID, c.BrowserHash, c.Session,
		c.CreatedAt.UTC(), c.ExpiresAt.UTC())
	return err
}

// ConsumePasskeyChallenge is one conditional UPDATE: of concurrent calls
// exactly one marks the row used.
func (s *Store) ConsumePasskeyChallenge(ctx context.Context, idHash, browserHash string, now time.Time) (storage.PasskeyChallenge, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var c storage.PasskeyChallenge
	var used *time.Time
	err := s.pool.QueryRow(ctx, `UPDATE passkey_challenges SET used_at = $3
		WHERE id_hash = $1 AND browser_hash = $2 AND $2 <> '' AND used_at IS NULL AND expires_at > $3
		RETURNING id_hash, purpose, user_id, auth_request_id, browser_hash, session, created_at, expires_at, used_at`, idHash, browserHash, now).
		Scan(&c.IDHash, &c.Purpose, &c.UserID, &c.AuthRequestID, &c.BrowserHash, &c.Session, &c.CreatedAt, &c.ExpiresAt, &used)
	if err == nil {
		c.CreatedAt, c.ExpiresAt, c.UsedAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC(), fromNull(used)
		return c, nil
	}
	if err = translate(err); err != storage.ErrNotFound {
		return storage.PasskeyChallenge{}, err
	}
	var exp time.Time
	if err := s.pool.QueryRow(ctx, `SELECT used_at, expires_at FROM passkey_challenges WHERE id_hash = $1 AND browser_hash = $2 AND $2 <> ''`,
		idHash, browserHash).Scan(&used, &exp); err != nil {
		return storage.PasskeyChallenge{}, translate(err)
	}
	if used != nil {
		return storage.PasskeyChallenge{}, storage.ErrAlreadyUsed
	}
	return storage.PasskeyChallenge{}, storage.ErrExpired
}
