package storagetest

import (
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
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

// mustVerify checks that every chain of the audit log holds and returns
// the report.
func mustVerify(t *testing.T, s storage.Store, against ...storage.AuditHead) storage.AuditReport {
	t.Helper()
	rep, err := s.VerifyAudit(ctx, against)
	must(t, err)
	if !rep.OK {
		t.Fatalf("audit chains broken: %+v", brokenChains(rep))
	}
	return rep
}

func brokenChains(rep storage.AuditReport) []storage.AuditChainReport {
	var out []storage.AuditChainReport
	for _, c := range rep.Chains {
		if c.Broken != nil {
			out = append(out, c)
		}
	}
	return out
}

func heads(rep storage.AuditReport) []storage.AuditHead {
	var out []storage.AuditHead
	for _, c := range rep.Chains {
		out = append(out, c.Head)
	}
	return out
}

// testAuditChain: every row the backend writes is chained, whatever its
// content (the backend's encoding and storage.AuditHash agree), and the
// report counts rows and names each chain's head.
func testAuditChain(t *testing.T, s storage.Store) {
	empty := mustVerify(t, s)
	if empty.Rows != 0 || len(empty.Chains) != 0 {
		t.Fatalf("empty log: %+v", empty)
	}
	events := []storage.AuditEvent{
		{Type: "plain"},
		{Type: "full", Time: now(), ActorID: "u1", SubjectID: "u2", OrgID: "o1", ClientID: "c1", IP: "192.0.2.1",
			UserAgent: "Mozilla/5.0 (X11)", RequestID: "r1", Details: map[string]string{"b": "2", "a": "1", "aa": "", "email": "x@example.com"}},
		{Type: "unicode", ActorID: "ü", Details: map[string]string{"name": "Zoë \"Z\" <z@example.com>", "é": "\n\t\\ \u2028 😀", "Z": "upper first"}},
		{Type: "personal only", Details: map[string]string{"phone": "+33 6 00 00 00 00", "login_hint": "h", "sub": "s", "subject": "t",
			"username": "u", "destination": "d"}},
		{Type: "nanoseconds", Time: time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC)},
		{Type: "old", Time: time.Date(1999, 1, 1, 0, 0, 0, 1000, time.FixedZone("x", 3600))},
	}
	for _, e := range events {
		must(t, s.AppendAudit(ctx, e))
	}
	rep := mustVerify(t, s)
	if rep.Rows != int64(len(events)) || len(rep.Chains) == 0 {
		t.Fatalf("report: %+v", rep)
	}
	var rows int64
	for _, c := range rep.Chains {
		rows += c.Rows
		if c.Head.Seq != c.Rows || len(c.Head.Hash) != 64 || c.Head.Chain != c.Chain {
			t.Fatalf("chain %d: head %+v after %d rows", c.Chain, c.Head, c.Rows)
		}
	}
	if rows != rep.Rows {
		t.Fatalf("rows per chain add up to %d, not %d", rows, rep.Rows)
	}
}

// testAuditChainHeads: heads recorded from one report are found again
// later, after more rows; a head that is no longer there is reported.
func testAuditChainHeads(t *testing.T, s storage.Store) {
	for range 20 {
		must(t, s.AppendAudit(ctx, ev("before")))
	}
	recorded := heads(mustVerify(t, s))
	for range 20 {
		must(t, s.AppendAudit(ctx, ev("after")))
	}
	mustVerify(t, s, recorded...)
	for name, h := range map[string]storage.AuditHead{
		"other hash":    {Chain: recorded[0].Chain, Seq: recorded[0].Seq, Hash: strings.Repeat("ab", 32)},
		"past the end":  {Chain: recorded[0].Chain, Seq: recorded[0].Seq + 1000, Hash: recorded[0].Hash},
		"missing chain": {Chain: 999, Seq: 1, Hash: recorded[0].Hash},
	} {
		rep, err := s.VerifyAudit(ctx, []storage.AuditHead{h})
		must(t, err)
		broken := brokenChains(rep)
		if rep.OK || len(broken) != 1 || broken[0].Broken.Problem != storage.AuditBrokenHead {
			t.Fatalf("%s: %+v", name, rep)
		}
	}
}

// testAuditChainConcurrent: concurrent writers never fork a chain.
func testAuditChainConcurrent(t *testing.T, s storage.Store) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := s.AppendAudit(ctx, storage.AuditEvent{Type: "concurrent", ActorID: fmt.Sprintf("w%d", g),
					Details: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if rep := mustVerify(t, s); rep.Rows != 400 {
		t.Fatalf("rows: %d", rep.Rows)
	}
}

// testAuditChainErasure: erasure pseudonymizes rows without breaking
// their chains, takes only an unused erased-… pseudonym, and records
// itself in the log (AuditErasureType), so that verify accounts for every
// pseudonym.
func testAuditChainErasure(t *testing.T, s storage.Store) {
	u, other, gone := newUser(t, s), newUser(t, s), newUser(t, s)
	taken := storage.ErasedPrefix + "taken"
	must(t, s.EraseUser(ctx, gone.ID, taken, storage.AuditEvent{Type: "user_erased", SubjectID: taken}))
	for _, e := range []storage.AuditEvent{
		{Type: "login_succeeded", ActorID: u.ID, SubjectID: u.ID, IP: "192.0.2.7", UserAgent: "Firefox",
			Details: map[string]string{"email": u.Email, "method": "password"}},
		{Type: "member_added", ActorID: other.ID, SubjectID: u.ID, OrgID: "o", IP: "198.51.100.1", Details: map[string]string{"role": "admin"}},
		{Type: "login_failed", IP: "192.0.2.7", Details: map[string]string{"email": u.Email, "reason": "password"}},
		{Type: "login_succeeded", ActorID: other.ID, SubjectID: other.ID, IP: "198.51.100.1", Details: map[string]string{"email": other.Email}},
	} {
		must(t, s.AppendAudit(ctx, e))
	}
	for _, p := range []string{"", "p1", storage.ErasedPrefix, u.ID} {
		if err := s.EraseUser(ctx, u.ID, p, ev("user_erased")); err == nil {
			t.Fatalf("erasure with pseudonym %q", p)
		}
	}
	if err := s.EraseUser(ctx, u.ID, taken, ev("user_erased")); err == nil {
		t.Fatal("erasure with a pseudonym that rows already name")
	}
	mustVerify(t, s)
	pseudonym := storage.ErasedPrefix + random.ID()
	must(t, s.EraseUser(ctx, u.ID, pseudonym, storage.AuditEvent{Type: "user_erased", ActorID: pseudonym, SubjectID: pseudonym}))
	rows, err := s.ListAudit(ctx, storage.AuditFilter{UserID: pseudonym})
	must(t, err)
	if len(rows) != 3 {
		t.Fatalf("pseudonymized rows: %+v", rows)
	}
	records, err := s.ListAudit(ctx, storage.AuditFilter{Type: storage.AuditErasureType})
	must(t, err)
	var record map[string]string
	for _, r := range records {
		if r.Details["pseudonym"] == pseudonym {
			record = r.Details
		}
	}
	if len(records) != 2 || record == nil || record["erased_id_digest"] != hex.EncodeToString(storage.AuditDigest(u.ID)) || record["rows"] != "3" {
		t.Fatalf("erasure records: %+v", records)
	}
	mustVerify(t, s)
	if err := s.EraseUser(ctx, u.ID, storage.ErasedPrefix+random.ID(), ev("user_erased")); err == nil {
		t.Fatal("an ID erased twice")
	}
}

// testAuditPagingInOneInstant: rows of one instant are paged through
// exactly once with the (time, ID) cursor.
func testAuditPagingInOneInstant(t *testing.T, s storage.Store) {
	at := now()
	org := "paging-" + random.ID()
	for range 7 {
		e := ev("paged")
		e.Time, e.OrgID = at, org
		must(t, s.AppendAudit(ctx, e))
	}
	seen := map[string]bool{}
	f := storage.AuditFilter{OrgID: org, Limit: 3}
	for page := 0; page < 5; page++ {
		evs, err := s.ListAudit(ctx, f)
		must(t, err)
		for _, e := range evs {
			if seen[e.ID] {
				t.Fatalf("row %s twice", e.ID)
			}
			seen[e.ID] = true
		}
		if len(evs) < f.Limit {
			break
		}
		last := evs[len(evs)-1]
		f.Before, f.BeforeID = last.Time, last.ID
	}
	if len(seen) != 7 {
		t.Fatalf("paged %d of 7 rows of one instant", len(seen))
	}
}
