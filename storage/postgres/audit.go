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
		  AND ($4::timestamptz IS NULL OR time >= $4) AND ($6 = '' OR org_id = $6)
		  AND ($7::timestamptz IS NULL OR time < $7 OR ($9 <> '' AND time = $7 AND id COLLATE "C" > $9))
		  AND ($8 = '' OR actor_id = $8 OR subject_id = $8)
		ORDER BY time DESC, id COLLATE "C" LIMIT $5`, f.Type, f.ActorID, f.SubjectID, nullTime(f.Since), limit, f.OrgID, nullTime(f.Before), f.UserID, f.BeforeID)
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

// auditPage bounds the rows VerifyAudit reads per statement, so that each
// statement stays within the store's statement timeout however long the
// log is.
const auditPage = 2000

// VerifyAudit implements storage.AuditChainIntegrity. The trigger of
// migration 00015 chains every row as it is inserted; this reads each
// chain back in order, a page at a time, and recomputes it in Go
// (storage.AuditVerifier): verification does not trust any function the
// schema's owner could replace.
func (s *Store) VerifyAudit(ctx context.Context, against []storage.AuditHead) (storage.AuditReport, error) {
	v := storage.NewAuditVerifier(against)
	chain := -1
	for {
		var next *int16
		if err := s.queryRow(ctx, `SELECT min(chain) FROM audit_log WHERE chain > $1`, []any{chain}, &next); err != nil {
			return storage.AuditReport{}, err
		}
		if next == nil {
			return v.Report(), nil
		}
		chain = int(*next)
		seq, id := int64(-1), ""
		for {
			n, err := s.auditPage(ctx, v, chain, &seq, &id)
			if err != nil {
				return storage.AuditReport{}, err
			}
			if n < auditPage {
				break
			}
		}
	}
}

// auditPage feeds v the rows of chain after (seq, id), advancing them,
// and returns how many it read.
func (s *Store) auditPage(ctx context.Context, v *storage.AuditVerifier, chain int, seq *int64, id *string) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT chain, seq, hash, actor_digest, subject_digest, personal_digest, `+auditCols+`
		FROM audit_log WHERE chain = $1 AND (seq, id) > ($2, $3) ORDER BY seq, id LIMIT $4`, chain, *seq, *id, auditPage)
	if err != nil {
		return 0, translate(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var l storage.AuditLink
		var c int16
		var details []byte
		ev := &l.Event
		if err := rows.Scan(&c, &l.Seq, &l.Hash, &l.ActorDigest, &l.SubjectDigest, &l.PersonalDigest,
			&ev.ID, &ev.Time, &ev.Type, &ev.ActorID, &ev.SubjectID, &ev.OrgID, &ev.ClientID,
			&ev.IP, &ev.UserAgent, &ev.RequestID, &details); err != nil {
			return n, translate(err)
		}
		l.Chain = int(c)
		if err := json.Unmarshal(details, &ev.Details); err != nil {
			// Not an object of strings: no server wrote it. A key no
			// object of strings can have keeps the row from verifying.
			ev.Details = map[string]string{"\x00not an object of strings": string(details)}
		}
		v.Add(l)
		*seq, *id = l.Seq, ev.ID
		n++
	}
	return n, translate(rows.Err())
}

func (s *Store) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return translate(s.pool.QueryRow(ctx, sql, args...).Scan(dest...))
}
