package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

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
