package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// --- APIs ---

const apiCols = `identifier, name, coalesce(org_id, ''), scopes, access_token_ttl, signing_alg, claims, require_grant, created_at, updated_at`

func scanAPI(r pgx.Row) (storage.API, error) {
	var a storage.API
	var scopes []byte
	var ttl int64
	err := r.Scan(&a.Identifier, &a.Name, &a.OrgID, &scopes, &ttl, &a.SigningAlg, &a.Claims, &a.RequireGrant, &a.CreatedAt, &a.UpdatedAt)
	if err != nil {
		return a, translate(err)
	}
	a.AccessTokenTTL = time.Duration(ttl) * time.Second
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, json.Unmarshal(scopes, &a.Scopes)
}

func (s *Store) UpsertAPI(ctx context.Context, a storage.API, ev storage.AuditEvent) (storage.API, error) {
	scopes, err := json.Marshal(a.Scopes)
	if err != nil {
		return a, err
	}
	if a.Scopes == nil {
		scopes = []byte("[]")
	}
	var out storage.API
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		// The owner never changes: an identifier of another owner matches
		// no row of the conditional update and reports a conflict.
		out, err = scanAPI(tx.QueryRow(ctx, `INSERT INTO apis (identifier, name, org_id, scopes, access_token_ttl, signing_alg, claims, require_grant)
			VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8)
			ON CONFLICT (identifier) DO UPDATE SET name = excluded.name, scopes = excluded.scopes,
				access_token_ttl = excluded.access_token_ttl, signing_alg = excluded.signing_alg,
				claims = excluded.claims, require_grant = excluded.require_grant
			WHERE coalesce(apis.org_id, '') = $3
			RETURNING `+apiCols, a.Identifier, a.Name, a.OrgID, scopes, int64(a.AccessTokenTTL/time.Second), a.SigningAlg,
			strs(a.Claims), a.RequireGrant))
		if errors.Is(err, storage.ErrNotFound) {
			return storage.ErrConflict
		}
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	return out, err
}

func (s *Store) ListAPIs(ctx context.Context) ([]storage.API, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+apiCols+` FROM apis ORDER BY identifier`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.API, error) { return scanAPI(r) })
	return out, translate(err)
}

func (s *Store) DeleteAPI(ctx context.Context, identifier, orgID string, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM apis WHERE identifier = $1 AND coalesce(org_id, '') = $2`, identifier, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

// --- Consents ---

func (s *Store) ConsentOf(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c := storage.Consent{UserID: userID, ClientID: clientID}
	err := s.pool.QueryRow(ctx, `SELECT scopes, resources, updated_at FROM consents WHERE user_id = $1 AND client_id = $2`,
		userID, clientID).Scan(&c.Scopes, &c.Resources, &c.UpdatedAt)
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, translate(err)
}

func (s *Store) ConsentsOf(ctx context.Context, userID string) ([]storage.Consent, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT client_id, scopes, resources, updated_at FROM consents WHERE user_id = $1 ORDER BY updated_at DESC, client_id`, userID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Consent, error) {
		c := storage.Consent{UserID: userID}
		err := r.Scan(&c.ClientID, &c.Scopes, &c.Resources, &c.UpdatedAt)
		c.UpdatedAt = c.UpdatedAt.UTC()
		return c, err
	})
	return out, translate(err)
}

func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		c, err := tx.Exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return err
		}
		g, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL`, userID, clientID, now)
		if err != nil {
			return err
		}
		if c.RowsAffected() == 0 && g.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

func (s *Store) GrantConsent(ctx context.Context, c storage.Consent, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, resources, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (user_id, client_id) DO UPDATE SET
				scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || excluded.scopes) ORDER BY 1),
				resources = ARRAY(SELECT DISTINCT unnest(consents.resources || excluded.resources) ORDER BY 1),
				updated_at = now()`, c.UserID, c.ClientID, strs(c.Scopes), strs(c.Resources)); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}

// --- Rate limits ---

func (s *Store) Hit(ctx context.Context, key string, windowStart, expiresAt time.Time) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_limits (key, window_start, expires_at, count) VALUES ($1, $2, $3, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count`, key, windowStart, expiresAt).Scan(&n)
	return n, translate(err)
}
