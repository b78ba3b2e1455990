package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// Domains are keyed by (domain, organization) (migration 00019): claims
// of one domain by several organizations stand side by side, and a unique
// index lets only one of them be verified.

func (s *Store) AddDomain(ctx context.Context, d storage.OrganizationDomain, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		// Re-adding keeps a verification; a second organization's
		// verification violates organization_domains_verified (ErrConflict).
		_, err := tx.Exec(ctx, `INSERT INTO organization_domains (domain, org_id, verified_at) VALUES ($1, $2, $3)
			ON CONFLICT (domain, org_id) DO UPDATE SET verified_at = coalesce(excluded.verified_at, organization_domains.verified_at)`,
			strings.ToLower(d.Domain), d.OrgID, nullTime(d.VerifiedAt))
		if err != nil {
			return err
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
	return scanOrg(s.pool.QueryRow(ctx, `SELECT o.id, o.slug, o.name, o.mfa_policy, o.require_verified_email, o.plan, o.created_at, o.updated_at, o.settings, o.join_by_domain, o.branding
		FROM organization_domains d JOIN organizations o ON o.id = d.org_id
		WHERE d.domain = $1 AND d.verified_at IS NOT NULL`, strings.ToLower(domain)))
}

func (s *Store) RemoveDomain(ctx context.Context, orgID, domain string, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM organization_domains WHERE org_id = $1 AND domain = $2`, orgID, domain)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}
