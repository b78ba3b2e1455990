package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/storage"
)

// AppendAudit implements storage.Audit.
func (s *Store) AppendAudit(ctx context.Context, ev storage.AuditEvent) error {
	if ev.Type == "" {
		return nil
	}
	_, err := s.exec(ctx, `INSERT INTO audit_log (`+auditCols+`) VALUES (`+auditValues(1)+`)`, auditArgs(ev, time.Now())...)
	return err
}

// ListAudit implements storage.Audit, newest first.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditCols+` FROM audit_log
		WHERE ($1 = '' OR type = $1) AND ($2 = '' OR actor_id = $2) AND ($3 = '' OR subject_id = $3)
		  AND ($4::timestamptz IS NULL OR time >= $4) AND ($6 = '' OR org_id = $6) AND ($7::timestamptz IS NULL OR time < $7)
		  AND ($8 = '' OR actor_id = $8 OR subject_id = $8)
		ORDER BY time DESC, id LIMIT $5`, f.Type, f.ActorID, f.SubjectID, nullTime(f.Since), limit, f.OrgID, nullTime(f.Before), f.UserID)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, scanAudit)
	return out, translate(err)
}

func scanAudit(r pgx.CollectableRow) (storage.AuditEvent, error) {
	var ev storage.AuditEvent
	var details []byte
	err := r.Scan(&ev.ID, &ev.Time, &ev.Type, &ev.ActorID, &ev.SubjectID, &ev.OrgID, &ev.ClientID,
		&ev.IP, &ev.UserAgent, &ev.RequestID, &details)
	if err == nil && string(details) != "{}" {
		err = json.Unmarshal(details, &ev.Details)
	}
	ev.Time = ev.Time.UTC()
	return ev, err
}
