package memory

import (
	"context"

	"github.com/optibid/idp/storage"
)

func (s *Store) RemoveDomain(_ context.Context, orgID, domain string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.domains[domain]; !ok || d.OrgID != orgID {
		return storage.ErrNotFound
	}
	delete(s.domains, domain)
	s.appendAudit(ev)
	return nil
}
