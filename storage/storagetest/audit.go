package storagetest

import (
	"testing"
	"time"

	"github.com/optibid/idp/storage"
)

func testAudit(t *testing.T, s storage.Store) {
	base := now().Add(-time.Hour)
	for i, typ := range []string{"a", "b", "a"} {
		e := storage.AuditEvent{Type: typ, Time: base.Add(time.Duration(i) * time.Minute), ActorID: "u1", SubjectID: "u2",
			OrgID: "o", ClientID: "c", IP: "127.0.0.1", UserAgent: "ua", RequestID: "r", Details: map[string]string{"k": "v"}}
		must(t, s.AppendAudit(ctx, e))
	}
	must(t, s.AppendAudit(ctx, storage.AuditEvent{})) // no type: not written
	all, err := s.ListAudit(ctx, storage.AuditFilter{})
	must(t, err)
	if len(all) != 3 || all[0].Type != "a" || !all[0].Time.Equal(base.Add(2*time.Minute)) || all[0].Details["k"] != "v" || all[0].ID == "" {
		t.Fatalf("list newest first: %+v", all)
	}
	as, _ := s.ListAudit(ctx, storage.AuditFilter{Type: "a"})
	since, _ := s.ListAudit(ctx, storage.AuditFilter{Since: base.Add(30 * time.Second)})
	limited, _ := s.ListAudit(ctx, storage.AuditFilter{Limit: 1})
	actor, _ := s.ListAudit(ctx, storage.AuditFilter{ActorID: "nobody"})
	if len(as) != 2 || len(since) != 2 || len(limited) != 1 || len(actor) != 0 {
		t.Fatalf("filters: %d %d %d %d", len(as), len(since), len(limited), len(actor))
	}
	must(t, s.AppendAudit(ctx, storage.AuditEvent{Type: "c", ActorID: "u2"}))
	asActor, _ := s.ListAudit(ctx, storage.AuditFilter{UserID: "u2"})
	asNobody, _ := s.ListAudit(ctx, storage.AuditFilter{UserID: "u3"})
	if len(asActor) != 4 || len(asNobody) != 0 {
		t.Fatalf("user filter (actor or subject): %d, %d", len(asActor), len(asNobody))
	}
}
