package postgres

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

const connCols = `id, type, name, coalesce(org_id, ''), config, secret_sealed, enabled, link_by_email, default_role, role_mapping, created_at, updated_at,
	allow_email_linking, trust_upstream_mfa, max_role`

func scanConn(r pgx.Row) (storage.Connection, error) {
	var c storage.Connection
	var mapping []byte
	err := r.Scan(&c.ID, &c.Type, &c.Name, &c.OrgID, &c.Config, &c.SecretSealed, &c.Enabled, &c.LinkByEmail, &c.DefaultRole, &mapping,
		&c.CreatedAt, &c.UpdatedAt, &c.AllowEmailLinking, &c.TrustUpstreamMFA, &c.MaxRole)
	if err != nil {
		return c, translate(err)
	}
	if len(mapping) > 0 && string(mapping) != "{}" {
		if err := json.Unmarshal(mapping, &c.RoleMapping); err != nil {
			return c, err
		}
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Store) UpsertConnection(ctx context.Context, c storage.Connection, ev storage.AuditEvent) error {
	mapping, _ := json.Marshal(c.RoleMapping)
	if c.RoleMapping == nil {
		mapping = []byte("{}")
	}
	cfg := c.Config
	if len(cfg) == 0 {
		cfg = []byte("{}")
	}
	if c.MaxRole == "" {
		c.MaxRole = "member"
	}
	return s.execAudited(ctx, ev, `INSERT INTO connections (id, type, name, org_id, config, secret_sealed, enabled, link_by_email, default_role, role_mapping,
			allow_email_linking, trust_upstream_mfa, max_role)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, org_id = excluded.org_id, config = excluded.config,
			secret_sealed = excluded.secret_sealed, enabled = excluded.enabled, link_by_email = excluded.link_by_email,
			default_role = excluded.default_role, role_mapping = excluded.role_mapping, allow_email_linking = excluded.allow_email_linking,
			trust_upstream_mfa = excluded.trust_upstream_mfa, max_role = excluded.max_role`,
		c.ID, c.Type, c.Name, nullStr(c.OrgID), cfg, c.SecretSealed, c.Enabled, c.LinkByEmail, c.DefaultRole, mapping,
		c.AllowEmailLinking, c.TrustUpstreamMFA, c.MaxRole)
}

func (s *Store) ConnectionByID(ctx context.Context, id string) (storage.Connection, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanConn(s.pool.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE id = $1`, id))
}

func (s *Store) ListConnections(ctx context.Context) ([]storage.Connection, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+connCols+` FROM connections ORDER BY id`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Connection, error) { return scanConn(r) })
	return out, translate(err)
}

func (s *Store) CreateFederationState(ctx context.Context, st storage.FederationState) error {
	_, err := s.exec(ctx, `INSERT INTO sso_state (state_hash, connection_id, auth_request_id, nonce, code_verifier, browser_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, st.StateHash, st.ConnectionID, st.AuthRequestID, st.Nonce, st.CodeVerifier, st.BrowserHash,
		st.CreatedAt, st.ExpiresAt)
	return err
}

func (s *Store) ConsumeFederationState(ctx context.Context, hash string, now time.Time) (storage.FederationState, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var st storage.FederationState
	var used *time.Time
	err := s.pool.QueryRow(ctx, `UPDATE sso_state SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING state_hash, connection_id, auth_request_id, nonce, code_verifier, browser_hash, created_at, expires_at, used_at`, hash, now).
		Scan(&st.StateHash, &st.ConnectionID, &st.AuthRequestID, &st.Nonce, &st.CodeVerifier, &st.BrowserHash, &st.CreatedAt, &st.ExpiresAt, &used)
	if err == nil {
		st.UsedAt = fromNull(used)
		return st, nil
	}
	if err = translate(err); err != storage.ErrNotFound {
		return storage.FederationState{}, err
	}
	var exp time.Time
	if err := s.pool.QueryRow(ctx, `SELECT used_at, expires_at FROM sso_state WHERE state_hash = $1`, hash).Scan(&used, &exp); err != nil {
		return storage.FederationState{}, translate(err)
	}
	if used != nil {
		return storage.FederationState{}, storage.ErrAlreadyUsed
	}
	return storage.FederationState{}, storage.ErrExpired
}

func (s *Store) IdentityByUpstream(ctx context.Context, conn, iss, sub string) (storage.FederatedIdentity, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var fi storage.FederatedIdentity
	err := s.pool.QueryRow(ctx, `SELECT connection_id, issuer, subject, user_id, email, created_at, last_login_at, linked_by_email
		FROM federated_identities WHERE connection_id = $1 AND issuer = $2 AND subject = $3`, conn, iss, sub).
		Scan(&fi.ConnectionID, &fi.Issuer, &fi.Subject, &fi.UserID, &fi.Email, &fi.CreatedAt, &fi.LastLoginAt, &fi.LinkedByEmail)
	return fi, translate(err)
}

func (s *Store) ChangeEmail(ctx context.Context, userID, email string, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET email = $2, email_verified = true, updated_at = now() WHERE id = $1`, userID, strings.ToLower(email))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM federated_identities WHERE user_id = $1 AND linked_by_email`, userID); err != nil {
			return err
		}
		// Links sent to the old address (a reset, another change) end here.
		if err := endActionTokens(ctx, tx, userID, time.Now().UTC(), ""); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) IdentitiesOf(ctx context.Context, userID string) ([]storage.FederatedIdentity, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT connection_id, issuer, subject, user_id, email, created_at, last_login_at, linked_by_email
		FROM federated_identities WHERE user_id = $1 ORDER BY created_at, connection_id, subject`, userID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.FederatedIdentity, error) {
		var fi storage.FederatedIdentity
		err := r.Scan(&fi.ConnectionID, &fi.Issuer, &fi.Subject, &fi.UserID, &fi.Email, &fi.CreatedAt, &fi.LastLoginAt, &fi.LinkedByEmail)
		return fi, err
	})
	return out, translate(err)
}

func (s *Store) UnlinkIdentity(ctx context.Context, userID, conn, iss, sub string, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM federated_identities WHERE user_id = $1 AND connection_id = $2 AND issuer = $3 AND subject = $4`,
			userID, conn, iss, sub)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

func insertIdentity(ctx context.Context, tx pgx.Tx, fi storage.FederatedIdentity) error {
	_, err := tx.Exec(ctx, `INSERT INTO federated_identities (connection_id, issuer, subject, user_id, email, linked_by_email)
		VALUES ($1, $2, $3, $4, $5, $6)`, fi.ConnectionID, fi.Issuer, fi.Subject, fi.UserID, fi.Email, fi.LinkedByEmail)
	return err
}

func (s *Store) LinkIdentity(ctx context.Context, fi storage.FederatedIdentity, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := insertIdentity(ctx, tx, fi); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) ProvisionFederatedUser(ctx context.Context, u storage.User, m *storage.Membership, fi storage.FederatedIdentity, ev storage.AuditEvent) (storage.User, error) {
	if u.ID == "" {
		u.ID = random.ID()
	}
	var out storage.User
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (id, email, name, password_hash, email_verified)
			VALUES ($1, $2, $3, '', $4) RETURNING `+userCols, u.ID, strings.ToLower(u.Email), u.Name, u.EmailVerified))
		if err != nil {
			return err
		}
		fi.UserID = out.ID
		if err := insertIdentity(ctx, tx, fi); err != nil {
			return err
		}
		if m != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO user_organization_membership (user_id, org_id, role) VALUES ($1, $2, $3)`,
				out.ID, m.OrgID, m.Role); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, ev)
	})
	return out, err
}

func (s *Store) UnlinkEmailLinks(ctx context.Context, userID string, ev storage.AuditEvent) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM federated_identities WHERE user_id = $1 AND linked_by_email`, userID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		ev.Details = map[string]string{"links": strconv.FormatInt(n, 10)}
		return insertAudit(ctx, tx, ev)
	})
	return int(n), err
}

func (s *Store) TouchIdentity(ctx context.Context, fi storage.FederatedIdentity, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE federated_identities SET last_login_at = $4, email = $5
		WHERE connection_id = $1 AND issuer = $2 AND subject = $3`, fi.ConnectionID, fi.Issuer, fi.Subject, now, fi.Email)
	if err == nil && n == 0 {
		return storage.ErrNotFound
	}
	return err
}

func (s *Store) DeleteConnection(ctx context.Context, id string, ev storage.AuditEvent) error {
	return s.execAudited(ctx, ev, `DELETE FROM connections WHERE id = $1`, id)
}
