package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/optibid/idp/storage"
)

func (s *Store) AppendAudit(_ context.Context, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendAudit(ev)
	return nil
}

func (s *Store) ListAudit(_ context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.AuditEvent
	for i := len(s.audit) - 1; i >= 0; i-- {
		ev := s.audit[i]
		if (f.Type != "" && ev.Type != f.Type) || (f.ActorID != "" && ev.ActorID != f.ActorID) ||
			(f.SubjectID != "" && ev.SubjectID != f.SubjectID) || (!f.Since.IsZero() && ev.Time.Before(f.Since)) ||
			(f.OrgID != "" && ev.OrgID != f.OrgID) || (f.UserID != "" && ev.ActorID != f.UserID && ev.SubjectID != f.UserID) {
			continue
		}
		if !f.Before.IsZero() && !ev.Time.Before(f.Before) && !(f.BeforeID != "" && ev.Time.Equal(f.Before) && ev.ID > f.BeforeID) {
			continue
		}
		ev.Details = cloneMap(ev.Details)
		out = append(out, ev)
	}
	// PostgreSQL's order: newest first, then by ID.
	slices.SortStableFunc(out, func(a, b storage.AuditEvent) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// VerifyAudit implements storage.AuditChainIntegrity. The memory store
// keeps one chain (chain 0): its single mutex already serializes writers.
func (s *Store) VerifyAudit(_ context.Context, against []storage.AuditHead) (storage.AuditReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := storage.NewAuditVerifier(against)
	for i, l := range s.auditLinks {
		l.Event = s.audit[i]
		v.Add(l)
	}
	return v.Report(), nil
}
