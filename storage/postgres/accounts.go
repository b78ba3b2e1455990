package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// --- Organizations ---

const orgCols = `id, slug, name, mfa_policy, require_verified_email, plan, created_at, updated_at, settings, join_by_domain, branding`

func scanOrg(r pgx.Row) (storage.Organization, error) {
	var o storage.Organization
	var branding []byte
	err := r.Scan(&o.ID, &o.Slug, &o.Name, &o.MFAPolicy, &o.RequireVerifiedEmail, &o.Plan, &o.CreatedAt, &o.UpdatedAt, &o.Settings, &o.JoinByDomain, &branding)
	if err == nil && len(branding) > 0 {
		err = json.Unmarshal(branding, &o.Branding)
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, translate(err)
}

func (s *Store) UpsertOrganization(ctx context.Context, o storage.Organization, ev storage.AuditEvent) (storage.Organization, error) {
	if o.ID == "" {
		o.ID = random.ID()
	}
	var out storage.Organization
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanOrg(tx.QueryRow(ctx, `INSERT INTO organizations (id, slug, name) VALUES ($1, $2, $3)
			ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING `+orgCols, o.ID, o.Slug, o.Name))
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	return out, err
}

func (s *Store) OrganizationByID(ctx context.Context, id string) (storage.Organization, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM organizations WHERE id = $1`, id))
}

func (s *Store) OrganizationBySlug(ctx context.Context, slug string) (storage.Organization, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM organizations WHERE slug = $1`, slug))
}

// ListOrganizations orders and compares slugs in the "C" collation, byte
// order whatever the database's locale, so that pages follow each other
// exactly and agree with the memory backend.
func (s *Store) ListOrganizations(ctx context.Context, q storage.OrgQuery) ([]storage.Organization, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+orgCols+` FROM organizations
		WHERE slug COLLATE "C" > $1 AND ($2 = '' OR slug ILIKE $3 ESCAPE '\' OR name ILIKE $3 ESCAPE '\')
		ORDER BY slug COLLATE "C" LIMIT $4`, q.After, q.Search, containsPattern(q.Search), storage.PageSize(q.Limit))
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Organization, error) { return scanOrg(r) })
	return out, translate(err)
}

// containsPattern is the LIKE pattern (escape character \) matching
// values that contain s literally.
func containsPattern(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

func (s *Store) CreateOrganization(ctx context.Context, o storage.Organization, ownerID string, ev storage.AuditEvent) (storage.Organization, error) {
	if o.ID == "" {
		o.ID = random.ID()
	}
	if o.Plan == "" {
		o.Plan = "free"
	}
	var out storage.Organization
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanOrg(tx.QueryRow(ctx, `INSERT INTO organizations (id, slug, name, plan) VALUES ($1, $2, $3, $4) RETURNING `+orgCols,
			o.ID, o.Slug, o.Name, o.Plan))
		if err != nil {
			return err
		}
		if ownerID != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO user_organization_membership (user_id, org_id, role) VALUES ($1, $2, 'owner')`, ownerID, o.ID); err != nil {
				return err
			}
		}
		ev.OrgID = o.ID
		return insertAudit(ctx, tx, ev)
	})
	return out, translate(err)
}

// DeleteOrganization removes the organization; its memberships, domains,
// invitations, connections, feature settings and logs go with it (foreign
// keys). Audit rows keep its ID.
func (s *Store) DeleteOrganization(ctx context.Context, orgID string, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		// What its clients issued dies with them (the clients themselves go
		// by the foreign key).
		if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = now()
			WHERE revoked_at IS NULL AND client_id IN (SELECT id FROM clients WHERE org_id = $1)`, orgID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) SetMFAPolicy(ctx context.Context, orgID, policy string, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET mfa_policy = $2 WHERE id = $1`, orgID, policy)
}

func (s *Store) SetOrgSettings(ctx context.Context, orgID string, settings []byte, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET settings = $2 WHERE id = $1`, orgID, jsonOr(settings))
}

func (s *Store) SetEmailPolicy(ctx context.Context, orgID string, requireVerified bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET require_verified_email = $2 WHERE id = $1`, orgID, requireVerified)
}

func (s *Store) SetBranding(ctx context.Context, orgID string, b storage.Branding, ev storage.AuditEvent) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return s.execAudited(ctx, ev, `UPDATE organizations SET branding = $2 WHERE id = $1`, orgID, raw)
}

func (s *Store) SetJoinByDomain(ctx context.Context, orgID string, on bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE organizations SET join_by_domain = $2 WHERE id = $1`, orgID, on)
}

// --- Users ---

const userCols = `u.id, u.email, u.name, u.password_hash, u.email_verified, u.phone, u.phone_verified, u.disabled,
	u.failed_logins, u.locked_until, u.created_at, u.updated_at, u.platform_admin`

func userDest(u *storage.User, locked **time.Time) []any {
	return []any{&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.EmailVerified, &u.Phone, &u.PhoneVerified, &u.Disabled,
		&u.FailedLogins, locked, &u.CreatedAt, &u.UpdatedAt, &u.PlatformAdmin}
}

func fixUser(u *storage.User, locked *time.Time) {
	u.LockedUntil = fromNull(locked)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
}

func scanUser(r pgx.Row) (storage.User, error) {
	var u storage.User
	var locked *time.Time
	if err := r.Scan(userDest(&u, &locked)...); err != nil {
		return u, translate(err)
	}
	fixUser(&u, locked)
	return u, nil
}

func (s *Store) CreateUser(ctx context.Context, u storage.User, ev storage.AuditEvent) (storage.User, error) {
	if u.ID == "" {
		u.ID = random.ID()
	}
	var out storage.User
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (id, email, name, password_hash, email_verified, disabled)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+userCols,
			u.ID, strings.ToLower(u.Email), u.Name, u.PasswordHash, u.EmailVerified, u.Disabled))
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	return out, err
}

func (s *Store) CreateUserWithOrganization(ctx context.Context, u storage.User, o storage.Organization, ev, orgEv storage.AuditEvent) (storage.User, storage.Organization, error) {
	if u.ID == "" {
		u.ID = random.ID()
	}
	if o.ID == "" {
		o.ID = random.ID()
	}
	if o.Plan == "" {
		o.Plan = "free"
	}
	var outU storage.User
	var outO storage.Organization
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if outU, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (id, email, name, password_hash, email_verified, disabled)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+userCols,
			u.ID, strings.ToLower(u.Email), u.Name, u.PasswordHash, u.EmailVerified, u.Disabled)); err != nil {
			return err
		}
		if outO, err = scanOrg(tx.QueryRow(ctx, `INSERT INTO organizations (id, slug, name, plan) VALUES ($1, $2, $3, $4) RETURNING `+orgCols,
			o.ID, o.Slug, o.Name, o.Plan)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO user_organization_membership (user_id, org_id, role) VALUES ($1, $2, 'owner')`, u.ID, o.ID); err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, ev); err != nil {
			return err
		}
		orgEv.OrgID = o.ID
		return insertAudit(ctx, tx, orgEv)
	})
	return outU, outO, translate(err)
}

func (s *Store) UserByID(ctx context.Context, id string) (storage.User, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id))
}

func (s *Store) UserByEmail(ctx context.Context, email string) (storage.User, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.email = $1`, strings.ToLower(email)))
}

// ListUsers orders emails as ListOrganizations orders slugs.
func (s *Store) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users u
		WHERE u.email COLLATE "C" > $1 AND ($2 = '' OR u.email ILIKE $3 ESCAPE '\' OR u.name ILIKE $3 ESCAPE '\')
		ORDER BY u.email COLLATE "C" LIMIT $4`, q.After, q.Search, containsPattern(q.Search), storage.PageSize(q.Limit))
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.User, error) { return scanUser(r) })
	return out, translate(err)
}

func (s *Store) UpdateProfile(ctx context.Context, id, name string, verified bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE users SET name = $2, email_verified = $3 WHERE id = $1`, id, name, verified)
}

func revokeUser(ctx context.Context, tx pgx.Tx, userID string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE user_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, now); err != nil {
		return err
	}
	return endActionTokens(ctx, tx, userID, now, "")
}

// endActionTokens uses up the user's pending email links (of one purpose,
// or all for ""): a link asked for before a password change, a disabling
// or an address change must not outlive it.
func endActionTokens(ctx context.Context, tx pgx.Tx, userID string, now time.Time, purpose string) error {
	_, err := tx.Exec(ctx, `UPDATE action_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL AND ($3 = '' OR purpose = $3)`,
		userID, now, purpose)
	return err
}

func (s *Store) SetPassword(ctx context.Context, id, hash string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL, login_checks_settled = login_checks WHERE id = $1`, id, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		if err := revokeUser(ctx, tx, id, now); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = $2 WHERE id = $1`, id, disabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		if disabled {
			if err := revokeUser(ctx, tx, id, now); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) SetPhone(ctx context.Context, id, phone string, verified bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE users SET phone = $2, phone_verified = $3 WHERE id = $1`, id, phone, verified)
}

func (s *Store) SetPlatformAdmin(ctx context.Context, userID string, on bool, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `UPDATE users SET platform_admin = $2 WHERE id = $1`, userID, on)
}

// --- Memberships ---

// scanMembership reads user_id, org_id, role, created_at, updated_at.
func scanMembership(r pgx.CollectableRow) (storage.Membership, error) {
	var m storage.Membership
	err := r.Scan(&m.UserID, &m.OrgID, &m.Role, &m.CreatedAt, &m.UpdatedAt)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, err
}

func (s *Store) UpsertMembership(ctx context.Context, m storage.Membership, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `INSERT INTO user_organization_membership (user_id, org_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, org_id) DO UPDATE SET role = excluded.role`, m.UserID, m.OrgID, m.Role)
}

func (s *Store) MembersOf(ctx context.Context, orgID string) ([]storage.Membership, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT user_id, org_id, role, created_at, updated_at
		FROM user_organization_membership WHERE org_id = $1 ORDER BY created_at, user_id`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, scanMembership)
	return out, translate(err)
}

// SetMemberRole locks the organization's owners first, so two concurrent
// demotions cannot both pass the last-owner check.
func (s *Store) SetMemberRole(ctx context.Context, orgID, userID, role string, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT user_id FROM user_organization_membership WHERE org_id = $1 AND role = 'owner' ORDER BY user_id FOR UPDATE`, orgID)
		if err != nil {
			return err
		}
		owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var current string
		if err := tx.QueryRow(ctx, `SELECT role FROM user_organization_membership WHERE org_id = $1 AND user_id = $2 FOR UPDATE`,
			orgID, userID).Scan(&current); err != nil {
			return err
		}
		if current == "owner" && role != "owner" && len(owners) <= 1 {
			return storage.ErrLastOwner
		}
		if role == "" {
			_, err = tx.Exec(ctx, `DELETE FROM user_organization_membership WHERE org_id = $1 AND user_id = $2`, orgID, userID)
		} else {
			_, err = tx.Exec(ctx, `UPDATE user_organization_membership SET role = $3 WHERE org_id = $1 AND user_id = $2`, orgID, userID, role)
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) MembershipsByUser(ctx context.Context, userID string) ([]storage.Membership, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT user_id, org_id, role, created_at, updated_at
		FROM user_organization_membership WHERE user_id = $1 ORDER BY created_at, org_id`, userID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, scanMembership)
	return out, translate(err)
}

// --- Logins ---

// LoginFailed is one statement: increment, compute the lock from the new
// count (the policy is evaluated in Go on the returned count inside the same
// transaction, under the row lock the UPDATE holds), and audit.
func (s *Store) LoginFailed(ctx context.Context, userID string, p storage.LockoutPolicy, now time.Time, ev storage.AuditEvent) (storage.User, error) {
	var out storage.User
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var failures int
		if err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1, login_checks = login_checks + 1 WHERE id = $1 RETURNING failed_logins`,
			userID).Scan(&failures); err != nil {
			return err
		}
		var err error
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users u SET locked_until = $2 WHERE u.id = $1 RETURNING `+userCols,
			userID, nullTime(p.LockedUntil(failures, now))))
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	return out, err
}

// AdmitLogin serializes admissions on the user's row (FOR UPDATE), so
// the lock state it checks is the one it changes.
func (s *Store) AdmitLogin(ctx context.Context, userID string, p storage.LockoutPolicy, now time.Time, lockEv storage.AuditEvent) (storage.Ticket, error) {
	var failures int
	var seq int64
	var before, armed time.Time
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var locked *time.Time
		if err := tx.QueryRow(ctx, `SELECT failed_logins, locked_until FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&failures, &locked); err != nil {
			return err
		}
		if (locked != nil && now.Before(*locked)) || (p.MaxFailures > 0 && failures >= p.MaxFailures) {
			return storage.ErrLocked
		}
		if locked != nil {
			before = *locked
		}
		failures++
		until := p.LockedUntil(failures, now)
		// The lock as stored (microseconds), which ReleaseAdmission
		// compares with what it finds.
		var stored *time.Time
		if err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = $2, locked_until = $3, login_checks = login_checks + 1
			WHERE id = $1 RETURNING locked_until, login_checks`,
			userID, failures, nullTime(until)).Scan(&stored, &seq); err != nil {
			return err
		}
		if stored != nil {
			armed = *stored
		}
		if p.Locks(failures) {
			return insertAudit(ctx, tx, storage.LockEvent(lockEv, failures, until))
		}
		return nil
	})
	return storage.Ticket{Count: failures, LockAfter: p.LockAfter, LockedBefore: before, Armed: armed, Logged: p.Locks(failures), Seq: seq}, err
}

func (s *Store) ReleaseAdmission(ctx context.Context, userID string, t storage.Ticket, liftEv storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		// The lock goes back only when nothing was admitted after t (t.Seq
		// is the last number), t is not settled, and t's own lock stands:
		// a later failure's lock stays. A settled check's failure was
		// already forgiven, so nothing is taken back for it. own and
		// settled are read from the row as it was.
		var own bool
		err := tx.QueryRow(ctx, `WITH old AS (
				SELECT login_checks = $2 AND login_checks_settled < $2 AND locked_until IS NOT DISTINCT FROM $4 AS own,
					login_checks_settled >= $2 AS settled FROM users WHERE id = $1 FOR UPDATE)
			UPDATE users u SET failed_logins = CASE WHEN old.settled THEN u.failed_logins ELSE greatest(u.failed_logins - 1, 0) END,
				locked_until = CASE WHEN old.own THEN $3 ELSE u.locked_until END
			FROM old WHERE u.id = $1 RETURNING old.own`, userID, t.Seq, nullTime(t.LockedBefore), nullTime(t.Armed)).Scan(&own)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil || !own || !t.Logged {
			return err
		}
		return insertAudit(ctx, tx, liftEv)
	})
}

func (s *Store) LoginSucceeded(ctx context.Context, userID string, t *storage.Ticket, now time.Time, newHash string, sess storage.Session, ev, liftEv storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var failures int
		var checks int64
		var locked *time.Time
		if err := tx.QueryRow(ctx, `SELECT failed_logins, locked_until, login_checks FROM users WHERE id = $1 FOR UPDATE`,
			userID).Scan(&failures, &locked, &checks); err != nil {
			return err
		}
		var lifted bool
		var settled int64 // t's number, which the success settles
		if t != nil {
			settled = t.Seq
			later := checks - t.Seq
			if storage.LockedAfter(*t, later) && locked != nil && now.Before(*locked) {
				return storage.ErrLocked // checks admitted after this one left the account locked
			}
			failures = storage.FailuresAfter(failures, later)
			if failures == 0 {
				locked = nil
			}
			lifted = t.Logged && later == 0
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = $2, locked_until = $3,
			password_hash = CASE WHEN $4 = '' THEN password_hash ELSE $4 END,
			login_checks_settled = greatest(login_checks_settled, $5) WHERE id = $1`, userID, failures, locked, newHash, settled); err != nil {
			return err
		}
		if sess.IDHash != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO user_sessions (id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, sess.IDHash, sess.UserID, sess.AuthTime, strs(sess.AMR),
				sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt, sess.IP, sess.UserAgent); err != nil {
				return err
			}
		}
		if lifted {
			if err := insertAudit(ctx, tx, liftEv); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, ev)
	})
}
