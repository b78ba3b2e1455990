package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// --- organization MFA policy and domains ---

func (s *Store) SetMFAPolicy(ctx context.Context, orgID, policy string, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET mfa_policy = $2 WHERE id = $1`, orgID, policy)
}

func (s *Store) SetEmailPolicy(ctx context.Context, orgID string, requireVerified bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET require_verified_email = $2 WHERE id = $1`, orgID, requireVerified)
}

func (s *Store) SetJoinByDomain(ctx context.Context, orgID string, on bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET join_by_domain = $2 WHERE id = $1`, orgID, on)
}

func (s *Store) AddDomain(ctx context.Context, d storage.OrganizationDomain, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		// An unverified claim of another organization gives way; a verified
		// one is a conflict; the same organization's verification stays.
		tag, err := tx.Exec(ctx, `INSERT INTO organization_domains (domain, org_id, verified_at) VALUES ($1, $2, $3)
			ON CONFLICT (domain) DO UPDATE SET
				verified_at = CASE WHEN organization_domains.org_id = excluded.org_id
					THEN coalesce(excluded.verified_at, organization_domains.verified_at) ELSE excluded.verified_at END,
				created_at = CASE WHEN organization_domains.org_id = excluded.org_id THEN organization_domains.created_at ELSE now() END,
				org_id = excluded.org_id
			WHERE organization_domains.org_id = excluded.org_id OR organization_domains.verified_at IS NULL`,
			strings.ToLower(d.Domain), d.OrgID, nullTime(d.VerifiedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict // the domain belongs to another organization
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) DomainsOf(ctx context.Context, orgID string) ([]storage.OrganizationDomain, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT org_id, domain, verified_at FROM organization_domains WHERE org_id = $1 ORDER BY domain`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.OrganizationDomain, error) {
		var d storage.OrganizationDomain
		var v *time.Time
		err := r.Scan(&d.OrgID, &d.Domain, &v)
		d.VerifiedAt = fromNull(v)
		return d, err
	})
	return out, translate(err)
}

func (s *Store) OrganizationByVerifiedDomain(ctx context.Context, domain string) (storage.Organization, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanOrg(s.pool.QueryRow(ctx, `SELECT o.id, o.slug, o.name, o.mfa_policy, o.require_verified_email, o.plan, o.created_at, o.updated_at, o.settings, o.join_by_domain
		FROM organization_domains d JOIN organizations o ON o.id = d.org_id
		WHERE d.domain = $1 AND d.verified_at IS NOT NULL`, strings.ToLower(domain)))
}

// --- users, auth requests, sessions ---

func (s *Store) SetPhone(ctx context.Context, id, phone string, verified bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE users SET phone = $2, phone_verified = $3 WHERE id = $1`, id, phone, verified)
}

func (s *Store) SetPendingLogin(ctx context.Context, id, userID string, amr []string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET pending_user_id = $2, pending_amr = $3, pending_at = $4
		WHERE id = $1 AND expires_at > now() AND code_hash IS NULL`, id, userID, strs(amr), at)
	if err != nil || n == 1 {
		return err
	}
	return s.arState(ctx, id)
}

func (s *Store) SetAuthRequestOrg(ctx context.Context, id, orgID string) error {
	n, err := s.exec(ctx, `UPDATE auth_requests SET org_id = $2 WHERE id = $1 AND expires_at > now() AND code_hash IS NULL`, id, orgID)
	if err != nil || n == 1 {
		return err
	}
	return s.arState(ctx, id)
}

func (s *Store) SessionsByUser(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent
		FROM user_sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`, userID, now)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Session, error) {
		var ss storage.Session
		err := r.Scan(&ss.IDHash, &ss.UserID, &ss.AuthTime, &ss.AMR, &ss.CreatedAt, &ss.LastSeenAt, &ss.ExpiresAt, &ss.IP, &ss.UserAgent)
		ss.AuthTime, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = ss.AuthTime.UTC(), ss.CreatedAt.UTC(), ss.LastSeenAt.UTC(), ss.ExpiresAt.UTC()
		return ss, err
	})
	return out, translate(err)
}

// --- action tokens ---

func (s *Store) CreateActionToken(ctx context.Context, t storage.ActionToken, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO action_tokens (hash, purpose, user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, t.Hash, t.Purpose, t.UserID, t.CreatedAt, t.ExpiresAt); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) ConsumeActionToken(ctx context.Context, hash, purpose string, now time.Time) (storage.ActionToken, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var t storage.ActionToken
	var used *time.Time
	err := s.pool.QueryRow(ctx, `UPDATE action_tokens SET used_at = $3
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING hash, purpose, user_id, created_at, expires_at, used_at`, hash, purpose, now).
		Scan(&t.Hash, &t.Purpose, &t.UserID, &t.CreatedAt, &t.ExpiresAt, &used)
	if err == nil {
		t.UsedAt, t.CreatedAt, t.ExpiresAt = fromNull(used), t.CreatedAt.UTC(), t.ExpiresAt.UTC()
		return t, nil
	}
	if err = translate(err); err != storage.ErrNotFound {
		return t, err
	}
	// Tell why: unknown, used or expired.
	var exp time.Time
	if err := s.pool.QueryRow(ctx, `SELECT used_at, expires_at FROM action_tokens WHERE hash = $1 AND purpose = $2`,
		hash, purpose).Scan(&used, &exp); err != nil {
		return t, translate(err)
	}
	if used != nil {
		return t, storage.ErrAlreadyUsed
	}
	return t, storage.ErrExpired
}

// --- MFA ---

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

// UseTOTPStep: one conditional UPDATE, so of two concurrent uses of one
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
