package memory

import (
	"context"
	"slices"
	"testing"

	"github.com/optibid/idp/storage"
)

// The memory store's chain catches what someone with its internals could
// do to it: change a row, remove one, slip one in. (The conformance suite
// covers the rest: intact chains, heads, erasure, concurrency.)
func TestAuditChainTampered(t *testing.T) {
	ctx := context.Background()
	fill := func() *Store {
		s := New(nil)
		for _, typ := range []string{"a", "b", "c", "d", "e"} {
			if err := s.AppendAudit(ctx, storage.AuditEvent{Type: typ, ActorID: "u1", IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	for name, tc := range map[string]struct {
		tamper  func(s *Store)
		problem string
		seq     int64
	}{
		"altered": {func(s *Store) { s.audit[2].Type = "x" }, storage.AuditBrokenAltered, 3},
		"deleted": {func(s *Store) {
			s.audit, s.auditLinks = slices.Delete(s.audit, 2, 3), slices.Delete(s.auditLinks, 2, 3)
		}, storage.AuditBrokenMissing, 3},
		"inserted": {func(s *Store) {
			l := storage.ChainAudit(s.auditLinks[1].Hash, 0, 3, storage.AuditEvent{ID: "forged", Type: "forged"})
			s.audit = slices.Insert(s.audit, 2, l.Event)
			l.Event = storage.AuditEvent{}
			s.auditLinks = slices.Insert(s.auditLinks, 2, l)
			for i := 3; i < len(s.auditLinks); i++ {
				s.auditLinks[i].Seq++
			}
		}, storage.AuditBrokenInserted, 3},
	} {
		t.Run(name, func(t *testing.T) {
			s := fill()
			tc.tamper(s)
			rep, err := s.VerifyAudit(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || len(rep.Chains) != 1 || rep.Chains[0].Broken == nil ||
				rep.Chains[0].Broken.Problem != tc.problem || rep.Chains[0].Broken.Seq != tc.seq {
				t.Fatalf("want %s at %d: %+v", tc.problem, tc.seq, rep.Chains)
			}
		})
	}
}
