package storagetest

import (
	"errors"
	"testing"

	"github.com/optibid/idp/storage"
)

// testRemoveDomain: an organization removes its own domains only, and the
// audit row commits with the removal.
func testRemoveDomain(t *testing.T, s storage.Store) {
	a, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "rm-a", Name: "A"}, storage.AuditEvent{})
	must(t, err)
	b, err := s.UpsertOrganization(ctx, storage.Organization{Slug: "rm-b", Name: "B"}, storage.AuditEvent{})
	must(t, err)
	must(t, s.AddDomain(ctx, storage.OrganizationDomain{OrgID: a.ID, Domain: "rm.example", VerifiedAt: now()}, storage.AuditEvent{}))
	if err := s.RemoveDomain(ctx, b.ID, "rm.example", ev("domain_removed")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another organization removed the domain: %v", err)
	}
	if n := auditCount(t, s, "domain_removed"); n != 0 {
		t.Fatalf("a refused removal was audited (%d rows)", n)
	}
	must(t, s.RemoveDomain(ctx, a.ID, "rm.example", ev("domain_removed")))
	if _, err := s.OrganizationByVerifiedDomain(ctx, "rm.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a removed domain still vouches: %v", err)
	}
	if ds, err := s.DomainsOf(ctx, a.ID); err != nil || len(ds) != 0 {
		t.Fatalf("domains after removal: %+v %v", ds, err)
	}
	if n := auditCount(t, s, "domain_removed"); n != 1 {
		t.Fatalf("domain_removed rows: %d", n)
	}
	if err := s.RemoveDomain(ctx, a.ID, "rm.example", ev("domain_removed")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
}
