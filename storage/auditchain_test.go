package storage_test

import (
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/optibid/idp/storage"
)

// chain builds n chained rows of chain 3.
func chain(n int) []storage.AuditLink {
	var out []storage.AuditLink
	var prev []byte
	for i := range n {
		l := storage.ChainAudit(prev, 3, int64(i+1), storage.AuditEvent{ID: fmt.Sprintf("id%02d", i+1), Type: "t",
			Time: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC), ActorID: "u1", IP: "192.0.2.1", Details: map[string]string{"email": "a@example.com", "k": "v"}})
		prev = l.Hash
		out = append(out, l)
	}
	return out
}

// erasure is the record of the erasure of id under pseudonym.
func erasure(pseudonym, id string) storage.AuditEvent {
	return storage.AuditEvent{ID: "rec-" + pseudonym, Type: storage.AuditErasureType, Time: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
		Details: map[string]string{"pseudonym": pseudonym, "erased_id_digest": hex.EncodeToString(storage.AuditDigest(id)), "rows": "1"}}
}

func verify(links []storage.AuditLink, against ...storage.AuditHead) storage.AuditReport {
	v := storage.NewAuditVerifier(against)
	for _, l := range links {
		v.Add(l)
	}
	return v.Report()
}

// renumber shifts the sequence numbers of links[from:] by d, keeping their
// hashes, as an owner who renumbers rows by hand would.
func renumber(links []storage.AuditLink, from int, d int64) []storage.AuditLink {
	for i := from; i < len(links); i++ {
		links[i].Seq += d
	}
	return links
}

// The verifier names the first broken link and what broke it: a changed
// row, a removed one (with or without renumbering), a row slipped in
// (with a hash that follows or not), and a head recorded earlier that is
// gone. Erasure alone passes.
func TestAuditVerifier(t *testing.T) {
	head := func(links []storage.AuditLink) storage.AuditHead {
		return verify(links).Chains[0].Head
	}
	forged := func(links []storage.AuditLink, at int, chained bool) []storage.AuditLink {
		f := storage.ChainAudit(links[at-1].Hash, 3, int64(at+1), storage.AuditEvent{ID: "forged", Type: "t", Time: time.Now()})
		if !chained {
			f.Hash = make([]byte, 32)
		}
		out := slices.Insert(slices.Clone(links), at, f)
		return renumber(out, at+1, 1)
	}
	tests := []struct {
		name    string
		links   func() []storage.AuditLink
		against func() []storage.AuditHead
		problem string
		seq     int64
		id      string
	}{
		{name: "intact", links: func() []storage.AuditLink { return chain(6) }},
		{name: "intact, against an earlier head", links: func() []storage.AuditLink { return chain(6) },
			against: func() []storage.AuditHead { return []storage.AuditHead{head(chain(4))} }},
		{name: "erased", links: func() []storage.AuditLink {
			l := chain(6)
			l[2].Event.ActorID, l[2].Event.IP, l[2].Event.Details = storage.ErasedPrefix+"x", "", map[string]string{"k": "v"}
			return append(l, storage.ChainAudit(l[5].Hash, 3, 7, erasure(storage.ErasedPrefix+"x", "u1")))
		}},
		{name: "erased without a record", links: func() []storage.AuditLink {
			l := chain(6)
			l[2].Event.ActorID, l[2].Event.IP, l[2].Event.Details = storage.ErasedPrefix+"x", "", map[string]string{"k": "v"}
			return l
		}, problem: storage.AuditBrokenErasure, seq: 3, id: "id03"},
		{name: "erased, the record names another ID", links: func() []storage.AuditLink {
			l := chain(6)
			l[2].Event.ActorID, l[2].Event.IP, l[2].Event.Details = storage.ErasedPrefix+"x", "", map[string]string{"k": "v"}
			return append(l, storage.ChainAudit(l[5].Hash, 3, 7, erasure(storage.ErasedPrefix+"x", "u2")))
		}, problem: storage.AuditBrokenErasure, seq: 3, id: "id03"},
		{name: "pseudonym written as it is, without a record", links: func() []storage.AuditLink {
			l := chain(2)
			return append(l, storage.ChainAudit(l[1].Hash, 3, 3, storage.AuditEvent{ID: "ev", Type: "user_erased", SubjectID: storage.ErasedPrefix + "y"}))
		}, problem: storage.AuditBrokenErasure, seq: 3, id: "ev"},
		{name: "type changed", links: func() []storage.AuditLink { l := chain(6); l[2].Event.Type = "other"; return l },
			problem: storage.AuditBrokenAltered, seq: 3, id: "id03"},
		{name: "last row changed", links: func() []storage.AuditLink { l := chain(6); l[5].Event.Details = map[string]string{"k": "w"}; return l },
			problem: storage.AuditBrokenAltered, seq: 6, id: "id06"},
		{name: "actor changed", links: func() []storage.AuditLink { l := chain(6); l[2].Event.ActorID = "u2"; return l },
			problem: storage.AuditBrokenAltered, seq: 3, id: "id03"},
		{name: "actor pseudonymized, IP kept", links: func() []storage.AuditLink {
			l := chain(6)
			l[2].Event.ActorID, l[2].Event.Details = storage.ErasedPrefix+"x", nil
			return l
		}, problem: storage.AuditBrokenAltered, seq: 3, id: "id03"},
		{name: "IP changed", links: func() []storage.AuditLink { l := chain(6); l[2].Event.IP = "192.0.2.2"; return l },
			problem: storage.AuditBrokenAltered, seq: 3, id: "id03"},
		{name: "hash recomputed after a change", links: func() []storage.AuditLink {
			l := chain(6)
			l[2].Event.Type = "other"
			l[2] = storage.ChainAudit(l[1].Hash, 3, 3, l[2].Event)
			return l
		}, problem: storage.AuditBrokenAltered, seq: 4, id: "id04"},
		{name: "chain recomputed after a change, against an earlier head", links: func() []storage.AuditLink {
			l := chain(6)
			l[2].Event.Type = "other"
			for i := 2; i < 6; i++ {
				l[i] = storage.ChainAudit(l[i-1].Hash, 3, int64(i+1), l[i].Event)
			}
			return l
		}, against: func() []storage.AuditHead { return []storage.AuditHead{head(chain(5))} },
			problem: storage.AuditBrokenHead, seq: 5, id: "id05"},
		{name: "row removed", links: func() []storage.AuditLink { return slices.Delete(chain(6), 2, 3) },
			problem: storage.AuditBrokenMissing, seq: 3},
		{name: "first row removed", links: func() []storage.AuditLink { return chain(6)[1:] },
			problem: storage.AuditBrokenMissing, seq: 1},
		{name: "row removed, rest renumbered", links: func() []storage.AuditLink { return renumber(slices.Delete(chain(6), 2, 3), 2, -1) },
			problem: storage.AuditBrokenAltered, seq: 3, id: "id04"},
		{name: "last row removed, against the earlier head", links: func() []storage.AuditLink { return chain(5) },
			against: func() []storage.AuditHead { return []storage.AuditHead{head(chain(6))} },
			problem: storage.AuditBrokenHead, seq: 6},
		{name: "whole chain removed, against the earlier head", links: func() []storage.AuditLink { return nil },
			against: func() []storage.AuditHead { return []storage.AuditHead{head(chain(6))} },
			problem: storage.AuditBrokenHead, seq: 6},
		{name: "row inserted with a hash that follows", links: func() []storage.AuditLink { return forged(chain(6), 2, true) },
			problem: storage.AuditBrokenInserted, seq: 3, id: "forged"},
		{name: "row inserted with any hash", links: func() []storage.AuditLink { return forged(chain(6), 2, false) },
			problem: storage.AuditBrokenInserted, seq: 3, id: "forged"},
		{name: "row inserted first", links: func() []storage.AuditLink {
			f := storage.ChainAudit(nil, 3, 1, storage.AuditEvent{ID: "forged", Type: "t"})
			return renumber(append([]storage.AuditLink{f}, chain(6)...), 1, 1)
		}, problem: storage.AuditBrokenInserted, seq: 1, id: "forged"},
		{name: "sequence number repeated", links: func() []storage.AuditLink {
			l := chain(6)
			return slices.Insert(l, 3, l[2])
		}, problem: storage.AuditBrokenInserted, seq: 3, id: "id03"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var against []storage.AuditHead
			if tc.against != nil {
				against = tc.against()
			}
			rep := verify(tc.links(), against...)
			if len(rep.Chains) != 1 || rep.Chains[0].Chain != 3 {
				t.Fatalf("chains: %+v", rep.Chains)
			}
			b := rep.Chains[0].Broken
			if tc.problem == "" {
				if !rep.OK || b != nil {
					t.Fatalf("want intact, got %+v", b)
				}
				return
			}
			if rep.OK || b == nil || b.Problem != tc.problem || b.Seq != tc.seq || b.ID != tc.id {
				t.Fatalf("want %s at seq %d (%q), got %+v", tc.problem, tc.seq, tc.id, b)
			}
		})
	}
}

// Chains are judged one by one: a break in one leaves the others intact,
// and the report lists them in order with their heads.
func TestAuditVerifierChains(t *testing.T) {
	v2 := storage.NewAuditVerifier(nil)
	var prev0, prev1 []byte
	var zero, one []storage.AuditLink
	for i := range 4 {
		a := storage.ChainAudit(prev0, 0, int64(i+1), storage.AuditEvent{ID: fmt.Sprint("a", i), Type: "t"})
		b := storage.ChainAudit(prev1, 1, int64(i+1), storage.AuditEvent{ID: fmt.Sprint("b", i), Type: "t"})
		prev0, prev1 = a.Hash, b.Hash
		if i == 1 {
			b.Event.Type = "changed"
		}
		zero, one = append(zero, a), append(one, b)
	}
	for _, l := range append(zero, one...) {
		v2.Add(l)
	}
	rep := v2.Report()
	if rep.OK || rep.Rows != 8 || len(rep.Chains) != 2 || rep.Chains[0].Broken != nil || rep.Chains[1].Broken == nil ||
		rep.Chains[1].Broken.Seq != 2 || rep.Chains[0].Head.Seq != 4 {
		t.Fatalf("report: %+v", rep)
	}
}

// A break never hides a later one: the verifier resynchronises after each
// (a changed row, rows removed, a row slipped in, with or without
// renumbering) and reports every break, by sequence number, and a head
// recorded earlier that no longer holds besides.
func TestAuditVerifierEveryBreak(t *testing.T) {
	type at struct {
		problem string
		seq     int64
	}
	change := func(l []storage.AuditLink, i int) []storage.AuditLink { l[i].Event.Type = "other"; return l }
	tests := []struct {
		name        string
		links       func() []storage.AuditLink
		against     func() []storage.AuditHead
		want        []at
		headDiffers bool
	}{
		{name: "two rows changed", links: func() []storage.AuditLink { return change(change(chain(8), 1), 5) },
			want: []at{{storage.AuditBrokenAltered, 2}, {storage.AuditBrokenAltered, 6}}},
		{name: "adjacent rows changed", links: func() []storage.AuditLink { return change(change(chain(8), 2), 3) },
			want: []at{{storage.AuditBrokenAltered, 3}, {storage.AuditBrokenAltered, 4}}},
		{name: "actor changed, then a row changed", links: func() []storage.AuditLink {
			l := chain(8)
			l[1].Event.ActorID = "u2"
			return change(l, 6)
		}, want: []at{{storage.AuditBrokenAltered, 2}, {storage.AuditBrokenAltered, 7}}},
		{name: "row removed, then a row changed", links: func() []storage.AuditLink { return change(slices.Delete(chain(8), 2, 3), 5) },
			want: []at{{storage.AuditBrokenMissing, 3}, {storage.AuditBrokenAltered, 7}}},
		{name: "row removed and renumbered, then a row changed", links: func() []storage.AuditLink {
			return change(renumber(slices.Delete(chain(8), 2, 3), 2, -1), 5)
		}, want: []at{{storage.AuditBrokenAltered, 3}, {storage.AuditBrokenAltered, 6}}},
		{name: "row slipped in and renumbered, then a row changed", links: func() []storage.AuditLink {
			l := chain(8)
			f := storage.ChainAudit(l[1].Hash, 3, 3, storage.AuditEvent{ID: "forged", Type: "t"})
			return change(renumber(slices.Insert(l, 2, f), 3, 1), 6)
		}, want: []at{{storage.AuditBrokenInserted, 3}, {storage.AuditBrokenAltered, 7}}},
		{name: "row slipped in with any hash, then a row changed", links: func() []storage.AuditLink {
			l := chain(8)
			f := storage.AuditLink{Chain: 3, Seq: 3, Hash: make([]byte, 32), Event: storage.AuditEvent{ID: "forged", Type: "t"}}
			f.ActorDigest, f.SubjectDigest, f.PersonalDigest = storage.AuditDigest(""), storage.AuditDigest(""), storage.AuditPersonalDigest(f.Event)
			return change(renumber(slices.Insert(l, 2, f), 3, 1), 6)
		}, want: []at{{storage.AuditBrokenInserted, 3}, {storage.AuditBrokenAltered, 7}}},
		{name: "a row changed and the head recorded earlier rewritten", links: func() []storage.AuditLink {
			l := change(chain(8), 1)
			l[6].Event.Type = "other"
			for i := 6; i < 8; i++ {
				l[i] = storage.ChainAudit(l[i-1].Hash, 3, int64(i+1), l[i].Event)
			}
			return l
		}, against: func() []storage.AuditHead { return []storage.AuditHead{verify(chain(7)).Chains[0].Head} },
			want: []at{{storage.AuditBrokenAltered, 2}}, headDiffers: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var against []storage.AuditHead
			if tc.against != nil {
				against = tc.against()
			}
			rep := verify(tc.links(), against...)
			c := rep.Chains[0]
			var got []at
			for _, b := range c.Breaks {
				got = append(got, at{b.Problem, b.Seq})
			}
			if rep.OK || !slices.Equal(got, tc.want) || c.Broken == nil || *c.Broken != c.Breaks[0] {
				t.Fatalf("want %v, got %v (%+v)", tc.want, got, c)
			}
			if (c.Against != nil) != tc.headDiffers || (c.Against != nil && c.Against.Problem != storage.AuditBrokenHead) {
				t.Fatalf("against: %+v", c.Against)
			}
		})
	}
}
