package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// --- TOTP ---

func (s *Store) SaveTOTP(ctx context.Context, t storage.TOTP, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO mfa_totp (user_id, secret_sealed, confirmed_at, last_step, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
			confirmed_at = excluded.confirmed_at, last_step = excluded.last_step, created_at = excluded.created_at`,
			t.UserID, t.SecretSealed, nullTime(t.ConfirmedAt), t.LastStep, t.CreatedAt); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) TOTPByUser(ctx context.Context, userID string) (storage.TOTP, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var t storage.TOTP
	var confirmed *time.Time
	err := s.pool.QueryRow(ctx, `SELECT user_id, secret_sealed, confirmed_at, last_step, created_at FROM mfa_totp WHERE user_id = $1`,
		userID).Scan(&t.UserID, &t.SecretSealed, &confirmed, &t.LastStep, &t.CreatedAt)
	t.ConfirmedAt, t.CreatedAt = fromNull(confirmed), t.CreatedAt.UTC()
	return t, translate(err)
}

func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, now time.Time, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE mfa_totp SET confirmed_at = $3, last_step = greatest(last_step, $2) WHERE user_id = $1`,
		userID, step, now)
}

// UseTOTPStep is race-safe: one conditional UPDATE, so of two concurrent uses of one
// code exactly one raises last_step.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := s.exec(ctx, `UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND last_step < $2`, userID, step)
	if err != nil || n == 1 {
		return err
	}
	if _, err := s.TOTPByUser(ctx, userID); err != nil {
		return err
	}
	return storage.ErrAlreadyUsed
}

func (s *Store) DeleteTOTP(ctx context.Context, userID string, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `DELETE FROM mfa_totp WHERE user_id = $1`, userID)
}

// --- Backup codes ---

func (s *Store) ReplaceBackupCodes(ctx context.Context, userID string, hashes []string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_backup_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mfa_backup_codes (user_id, code_hash, created_at)
			SELECT $1, h, $3 FROM unnest($2::text[]) AS h`, userID, hashes, now); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) UseBackupCode(ctx context.Context, userID, hash string, now time.Time, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE mfa_backup_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
		userID, hash, now)
}

func (s *Store) BackupCodesRemaining(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, translate(err)
}

// --- OTP challenges ---

func (s *Store) CreateOTPChallenge(ctx context.Context, c storage.OTPChallenge, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO otp_challenges (id, auth_request_id, user_id, channel, destination, code_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.ID, c.AuthRequestID, c.UserID, c.Channel, c.Destination, c.CodeHash,
			c.CreatedAt, c.ExpiresAt); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

// VerifyOTPChallenge locks the challenge row, so concurrent guesses are
// counted one by one and at most one correct code is accepted.
func (s *Store) VerifyOTPChallenge(ctx context.Context, id, authRequestID, codeHash string, maxAttempts int, now time.Time) error {
	var outcome error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var hash string
		var attempts int
		var used *time.Time
		var exp time.Time
		if err := tx.QueryRow(ctx, `SELECT code_hash, attempts, used_at, expires_at FROM otp_challenges
			WHERE id = $1 AND auth_request_id = $2 FOR UPDATE`, id, authRequestID).Scan(&hash, &attempts, &used, &exp); err != nil {
			return err
		}
		switch {
		case used != nil || attempts >= maxAttempts:
			outcome = storage.ErrAlreadyUsed
			return nil
		case !now.Before(exp):
			outcome = storage.ErrExpired
			return nil
		case hash != codeHash:
			outcome = storage.ErrMismatch
			_, err := tx.Exec(ctx, `UPDATE otp_challenges SET attempts = attempts + 1 WHERE id = $1`, id)
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE otp_challenges SET used_at = $2 WHERE id = $1`, id, now)
		return err
	})
	if err != nil {
		return err
	}
	return outcome
}

func (s *Store) CountOTPChallenges(ctx context.Context, userID string, since time.Time) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM otp_challenges WHERE user_id = $1 AND created_at >= $2`, userID, since).Scan(&n)
	return n, translate(err)
}
