package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

const clientCols = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes,
	require_consent, require_mfa, require_verified_email, id_token_signed_response_alg, created_at, updated_at, coalesce(org_id, ''),
	first_party, apis, default_api, acts_for, service_role, allowed_origins`

func scanClient(r pgx.Row) (storage.Client, error) {
	var c storage.Client
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes,
		&c.Scopes, &c.RequireConsent, &c.RequireMFA, &c.RequireVerifiedEmail, &c.IDTokenSignedResponseAlg, &c.CreatedAt, &c.UpdatedAt, &c.OrgID,
		&c.FirstParty, &c.APIs, &c.DefaultAPI, &c.ActsFor, &c.ServiceRole, &c.AllowedOrigins)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, translate(err)
}

func (s *Store) UpsertClient(ctx context.Context, c storage.Client, ev storage.AuditEvent) (storage.Client, error) {
	var out storage.Client
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanClient(tx.QueryRow(ctx, `INSERT INTO clients (id, name, secret_hash, redirect_uris,
			post_logout_redirect_uris, grant_types, scopes, require_consent, id_token_signed_response_alg,
			require_mfa, require_verified_email, org_id, first_party, apis, default_api, acts_for, service_role, allowed_origins)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''), $13, $14, $15, $16, $17, $18)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash,
				redirect_uris = excluded.redirect_uris, post_logout_redirect_uris = excluded.post_logout_redirect_uris,
				grant_types = excluded.grant_types, scopes = excluded.scopes, require_consent = excluded.require_consent,
				id_token_signed_response_alg = excluded.id_token_signed_response_alg,
				require_mfa = excluded.require_mfa, require_verified_email = excluded.require_verified_email,
				first_party = excluded.first_party, apis = excluded.apis, default_api = excluded.default_api,
				acts_for = excluded.acts_for, service_role = excluded.service_role, allowed_origins = excluded.allowed_origins
			RETURNING `+clientCols, c.ID, c.Name, c.SecretHash, strs(c.RedirectURIs), strs(c.PostLogoutRedirectURIs),
			strs(c.GrantTypes), strs(c.Scopes), c.RequireConsent, c.IDTokenSignedResponseAlg, c.RequireMFA, c.RequireVerifiedEmail, c.OrgID,
			c.FirstParty, strs(c.APIs), c.DefaultAPI, strs(c.ActsFor), c.ServiceRole, strs(c.AllowedOrigins)))
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
	return out, err
}

func (s *Store) ClientByID(ctx context.Context, id string) (storage.Client, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
}

func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
	return out, translate(err)
}

func (s *Store) ClientsOf(ctx context.Context, orgID string) ([]storage.Client, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients WHERE org_id = $1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
	return out, translate(err)
}

func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`, id, now); err != nil {
			return err
		}
		return insertAudit(ctx, tx, ev)
	})
}
