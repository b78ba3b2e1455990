package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

const invitationCols = `id, org_id, email, role, token_hash, invited_by, language, created_at, expires_at, accepted_at, accepted_by, revoked_at`

func scanInvitation(r pgx.Row) (storage.Invitation, error) {
	var i storage.Invitation
	var accepted, revoked *time.Time
	err := r.Scan(&i.ID, &i.OrgID, &i.Email, &i.Role, &i.TokenHash, &i.InvitedBy, &i.Language, &i.CreatedAt, &i.ExpiresAt, &accepted, &i.AcceptedBy, &revoked)
	i.AcceptedAt, i.RevokedAt = fromNull(accepted), fromNull(revoked)
	i.CreatedAt, i.ExpiresAt = i.CreatedAt.UTC(), i.ExpiresAt.UTC()
	return i, err
}

func (s *Store) CreateInvitation(ctx context.Context, inv storage.Invitation, ev storage.AuditEvent) error {
	if inv.ID == "" {
		inv.ID = random.ID()
	}
	if inv.Language == "" {
		inv.Language = "en"
	}
	return s.execAudited(ctx, ev, `INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, language, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, inv.ID, inv.OrgID, strings.ToLower(inv.Email), inv.Role, inv.TokenHash, inv.InvitedBy,
		inv.Language, inv.CreatedAt, inv.ExpiresAt)
}

func (s *Store) InvitationsOf(ctx context.Context, orgID string) ([]storage.Invitation, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+invitationCols+` FROM invitations WHERE org_id = $1 ORDER BY created_at DESC, id`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Invitation, error) { return scanInvitation(r) })
	return out, translate(err)
}

func (s *Store) InvitationByTokenHash(ctx context.Context, tokenHash string) (storage.Invitation, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	inv, err := scanInvitation(s.pool.QueryRow(ctx, `SELECT `+invitationCols+` FROM invitations WHERE token_hash = $1`, tokenHash))
	return inv, translate(err)
}

func (s *Store) RevokeInvitation(ctx context.Context, orgID, id string, now time.Time, ev storage.AuditEvent) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $3
			WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3`, orgID, id, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return insertAudit(ctx, tx, ev)
	})
}

// AcceptInvitation locks the invitation row, so two concurrent
// acceptances of one token cannot both succeed.
func (s *Store) AcceptInvitation(ctx context.Context, tokenHash string, u storage.User, now time.Time, inviterMay func(inviterRole, invitedRole string, platformAdmin bool) bool, ev storage.AuditEvent) (storage.Invitation, error) {
	var inv storage.Invitation
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if inv, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationCols+` FROM invitations WHERE token_hash = $1 FOR UPDATE`, tokenHash)); err != nil {
			return err
		}
		if err := inv.Acceptable(u, now); err != nil {
			return err
		}
		var role string
		var platformAdmin bool
		if err := tx.QueryRow(ctx, `SELECT coalesce(
				(SELECT role FROM user_organization_membership WHERE user_id = $1 AND org_id = $2 FOR SHARE),
				(SELECT service_role FROM clients WHERE id = $1 AND org_id = $2), ''),
			coalesce((SELECT platform_admin FROM users WHERE id = $1), false)`, inv.InvitedBy, inv.OrgID).Scan(&role, &platformAdmin); err != nil {
			return err
		}
		if !inviterMay(role, inv.Role, platformAdmin) {
			return storage.ErrRevoked
		}
		tag, err := tx.Exec(ctx, `INSERT INTO user_organization_membership (user_id, org_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, org_id) DO NOTHING`, u.ID, inv.OrgID, inv.Role)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1`, inv.ID, now, u.ID); err != nil {
			return err
		}
		inv.AcceptedAt, inv.AcceptedBy = now, u.ID
		ev.OrgID = inv.OrgID // the caller cannot know it before the token is redeemed
		return insertAudit(ctx, tx, ev)
	})
	return inv, translate(err)
}
