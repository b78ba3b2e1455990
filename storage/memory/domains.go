package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/optibid/idp/storage"
)

// Domains are keyed by (domain, organization): claims of one domain by
// several organizations stand side by side until one verifies it.
type domainKey = [2]string

func (s *Store) AddDomain(_ context.Context, d storage.OrganizationDomain, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[d.OrgID]; !ok {
		return storage.ErrNotFound
	}
	d.Domain = strings.ToLower(d.Domain)
	key := domainKey{d.Domain, d.OrgID}
	if !d.VerifiedAt.IsZero() {
		for k, other := range s.domains {
			if k[0] == d.Domain && k[1] != d.OrgID && !other.VerifiedAt.IsZero() {
				return storage.ErrConflict // another organization verified it
			}
		}
	} else if old, ok := s.domains[key]; ok {
		d.VerifiedAt = old.VerifiedAt // a verification stays
	}
	s.domains[key] = d
	s.appendAudit(ev)
	return nil
}

func (s *Store) DomainsOf(_ context.Context, orgID string) ([]storage.OrganizationDomain, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.OrganizationDomain
	for _, d := range s.domains {
		if d.OrgID == orgID {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b storage.OrganizationDomain) int { return strings.Compare(a.Domain, b.Domain) })
	return out, nil
}

func (s *Store) OrganizationByVerifiedDomain(_ context.Context, domain string) (storage.Organization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	domain = strings.ToLower(domain)
	for k, d := range s.domains {
		if k[0] == domain && !d.VerifiedAt.IsZero() {
			return s.orgs[d.OrgID], nil
		}
	}
	return storage.Organization{}, storage.ErrNotFound
}

func (s *Store) RemoveDomain(_ context.Context, orgID, domain string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := domainKey{domain, orgID}
	if _, ok := s.domains[key]; !ok {
		return storage.ErrNotFound
	}
	delete(s.domains, key)
	s.appendAudit(ev)
	return nil
}
