package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The audit log is a set of hash chains. Every row carries its chain, its
// sequence number in that chain (1, 2, 3, … without gaps) and a hash that
// covers the hash of the row before it in the same chain and the row
// itself, so that changing, removing or slipping in a row breaks the chain
// at that point. Rows spread over several chains so that concurrent
// writers do not all queue on one lock (storage/postgres: 16 chains, a
// transaction's rows all in one; storage/memory: one chain).
//
// Erasure must pseudonymize rows without breaking them. So the hash covers
// the SHA-256 digest of the actor and subject IDs, and one digest of the
// personal part of the row (IP, user agent and the PersonalDetails), all
// three stored beside the row when it is written, never the visible values
// themselves. Verification recomputes each digest from the visible values
// and accepts a difference only where erasure explains it: an ID replaced
// by an ErasedPrefix pseudonym in a row whose personal part is empty.
//
// The encoding, which storage/postgres's trigger computes in SQL and
// AuditHash computes here (each backend's tests pin the two together):
//
//	hash = SHA-256( prev                          32 bytes; zeros for seq 1
//	              ‖ be32(chain) ‖ be64(seq)
//	              ‖ actor digest ‖ subject digest ‖ personal digest   32 bytes each
//	              ‖ f(id) ‖ f(time) ‖ f(type) ‖ f(org) ‖ f(client) ‖ f(request)
//	              ‖ pairs(details without the personal keys) )
//	actor digest    = SHA-256(actor ID), subject digest likewise
//	personal digest = SHA-256( f(ip) ‖ f(user agent) ‖ pairs(personal details) )
//	f(s)     = be32(len(s)) ‖ s, s in UTF-8
//	pairs(m) = f(key) ‖ f(value) for each key in byte order
//	time     = "YYYY-MM-DDThh:mm:ss.uuuuuuZ" in UTC (microseconds)

// ErasedPrefix begins every pseudonym that erasure writes in place of a
// user's ID (manage/privacy.Pseudonym makes them). Backends refuse any
// other pseudonym, and verification accepts an actor or subject that no
// longer matches its digest only when it carries this prefix.
const ErasedPrefix = "erased-"

// AuditChainIntegrity verifies the audit log's hash chains.
type AuditChainIntegrity interface {
	// VerifyAudit walks every chain in order and reports, per chain, its
	// rows, its head and the first broken link. against holds heads
	// recorded from an earlier report (at most one per chain): each must
	// still be in its chain with the same hash, which catches rows removed
	// from a chain's end and a chain recomputed from some row on.
	VerifyAudit(ctx context.Context, against []AuditHead) (AuditReport, error)
}

// AuditLink is an audit row with its place in its chain: what the
// verifier reads back.
type AuditLink struct {
	Chain          int
	Seq            int64
	Hash           []byte
	ActorDigest    []byte
	SubjectDigest  []byte
	PersonalDigest []byte
	Event          AuditEvent
}

// AuditHead names a row by its place and hash: a chain's last row in a
// report, or a head recorded earlier and checked again.
type AuditHead struct {
	Chain int    `json:"chain"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"` // hex
}

// AuditReport is what VerifyAudit found. OK is true when no chain is
// broken (and every head checked against is still there).
type AuditReport struct {
	OK     bool               `json:"ok"`
	Rows   int64              `json:"rows"`
	Chains []AuditChainReport `json:"chains"`
}

// AuditChainReport is one chain's result. Head is its last row.
type AuditChainReport struct {
	Chain  int         `json:"chain"`
	Rows   int64       `json:"rows"`
	Head   AuditHead   `json:"head"`
	Broken *AuditBreak `json:"broken,omitempty"`
}

// AuditBreak is the first broken link of a chain: the row (by sequence
// number and ID) where the chain stops holding, and why.
type AuditBreak struct {
	Seq     int64  `json:"seq"`
	ID      string `json:"id,omitempty"`
	Problem string `json:"problem"` // one of the AuditBroken… values
	Detail  string `json:"detail"`
}

// The problems a verification reports.
const (
	// AuditBrokenAltered: the row's content no longer gives its hash or
	// its digests, or its link to the row before it is broken (the row
	// before it was changed, or removed with the rest renumbered).
	AuditBrokenAltered = "altered"
	// AuditBrokenMissing: sequence numbers skip; rows were removed.
	AuditBrokenMissing = "missing"
	// AuditBrokenInserted: the row is not part of the chain: the row after
	// it links to the row before it, or its sequence number repeats.
	AuditBrokenInserted = "inserted"
	// AuditBrokenHead: a head checked against is gone or has another hash.
	AuditBrokenHead = "head_differs"
)

// AuditDigest is the digest of an actor or subject ID.
func AuditDigest(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// AuditPersonalDigest is the digest of ev's personal part: IP, user agent
// and the PersonalDetails keys of its details.
func AuditPersonalDigest(ev AuditEvent) []byte {
	var b []byte
	b = field(b, ev.IP)
	b = field(b, ev.UserAgent)
	b = pairs(b, ev.Details, true)
	h := sha256.Sum256(b)
	return h[:]
}

// AuditTime is the time as the chain encodes it.
func AuditTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// AuditHash is the hash of l (its chain, sequence number, digests and
// event) as the row following prev (nil for a chain's first row).
func AuditHash(prev []byte, l AuditLink) []byte {
	if prev == nil {
		prev = make([]byte, sha256.Size)
	}
	b := slices.Clone(prev)
	b = binary.BigEndian.AppendUint32(b, uint32(l.Chain))
	b = binary.BigEndian.AppendUint64(b, uint64(l.Seq))
	b = append(append(append(b, l.ActorDigest...), l.SubjectDigest...), l.PersonalDigest...)
	ev := l.Event
	for _, s := range []string{ev.ID, AuditTime(ev.Time), ev.Type, ev.OrgID, ev.ClientID, ev.RequestID} {
		b = field(b, s)
	}
	b = pairs(b, ev.Details, false)
	h := sha256.Sum256(b)
	return h[:]
}

// ChainAudit returns ev as row seq of chain following prev (nil for the
// first): digests and hash filled in.
func ChainAudit(prev []byte, chain int, seq int64, ev AuditEvent) AuditLink {
	l := AuditLink{Chain: chain, Seq: seq, Event: ev,
		ActorDigest: AuditDigest(ev.ActorID), SubjectDigest: AuditDigest(ev.SubjectID), PersonalDigest: AuditPersonalDigest(ev)}
	l.Hash = AuditHash(prev, l)
	return l
}

func field(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// pairs appends the details that are (personal) or are not personal, in
// byte order of their keys.
func pairs(b []byte, m map[string]string, personal bool) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		if slices.Contains(PersonalDetails, k) == personal {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = field(field(b, k), m[k])
	}
	return b
}

// erased reports whether ev's personal part is empty, as erasure leaves it.
func erased(ev AuditEvent) bool {
	if ev.IP != "" || ev.UserAgent != "" {
		return false
	}
	for k := range ev.Details {
		if slices.Contains(PersonalDetails, k) {
			return false
		}
	}
	return true
}

// AuditVerifier checks links fed to it in order (by chain, then sequence
// number, then ID) and builds the report. Both backends read their rows
// into one, so a chain is judged the same way whatever stores it.
type AuditVerifier struct {
	against map[int]AuditHead
	report  AuditReport
	cur     *chainCheck
}

// chainCheck is the state of the chain being walked.
type chainCheck struct {
	rep        *AuditChainReport
	next       int64  // the sequence number expected next
	prev       []byte // hash of the row before (nil: none yet)
	prevPrev   []byte
	prevLink   AuditLink
	suspect    *AuditLink // a row whose link failed, judged by the row after it
	suspectOn  []byte     // the hash that row should have followed
	head       *AuditHead // the head to find again, if any
	headSeen   bool
	headBroken *AuditBreak
}

// NewAuditVerifier starts a verification; against as for VerifyAudit.
func NewAuditVerifier(against []AuditHead) *AuditVerifier {
	v := &AuditVerifier{against: map[int]AuditHead{}}
	for _, h := range against {
		v.against[h.Chain] = h
	}
	return v
}

// Add checks the next link.
func (v *AuditVerifier) Add(l AuditLink) {
	if v.cur == nil || v.cur.rep.Chain != l.Chain {
		v.finish()
		v.cur = &chainCheck{rep: &AuditChainReport{Chain: l.Chain}, next: 1}
		if h, ok := v.against[l.Chain]; ok {
			v.cur.head = &h
		}
	}
	c := v.cur
	c.rep.Rows++
	v.report.Rows++
	c.rep.Head = AuditHead{Chain: l.Chain, Seq: l.Seq, Hash: hex.EncodeToString(l.Hash)}
	if c.head != nil && !c.headSeen && l.Seq == c.head.Seq {
		c.headSeen = true
		if c.rep.Head.Hash != strings.ToLower(c.head.Hash) {
			c.headBroken = &AuditBreak{Seq: l.Seq, ID: l.Event.ID, Problem: AuditBrokenHead,
				Detail: fmt.Sprintf("the row at seq %d has hash %s, not the recorded %s: the chain was rewritten from this row or before", l.Seq, c.rep.Head.Hash, c.head.Hash)}
		}
	}
	if c.rep.Broken == nil {
		c.rep.Broken = c.check(l)
	}
	c.prevPrev, c.prev, c.prevLink = c.prev, l.Hash, l
	c.next = max(c.next, l.Seq+1)
}

// check judges l against the rows before it; nil when it holds.
func (c *chainCheck) check(l AuditLink) *AuditBreak {
	if s := c.suspect; s != nil { // the row after a failed link decides
		c.suspect = nil
		if loosely(c.suspectOn, l) {
			return &AuditBreak{Seq: s.Seq, ID: s.Event.ID, Problem: AuditBrokenInserted,
				Detail: "the row after it links to the row before it: this row is not part of the chain"}
		}
		return altered(*s)
	}
	if msg := digestsDiffer(l); msg != "" {
		return &AuditBreak{Seq: l.Seq, ID: l.Event.ID, Problem: AuditBrokenAltered, Detail: msg}
	}
	switch {
	case l.Seq < c.next:
		return &AuditBreak{Seq: l.Seq, ID: l.Event.ID, Problem: AuditBrokenInserted,
			Detail: fmt.Sprintf("sequence number %d repeats or goes back (expected %d)", l.Seq, c.next)}
	case l.Seq > c.next:
		return &AuditBreak{Seq: c.next, Problem: AuditBrokenMissing,
			Detail: fmt.Sprintf("rows %d to %d are missing", c.next, l.Seq-1)}
	}
	if bytes.Equal(AuditHash(c.prev, l), l.Hash) {
		return nil
	}
	if c.rep.Rows >= 2 && loosely(c.prevPrev, l) { // prevPrev nil: the zeros before row 1
		return &AuditBreak{Seq: c.prevLink.Seq, ID: c.prevLink.Event.ID, Problem: AuditBrokenInserted,
			Detail: "the row after it links to the row before it: this row is not part of the chain"}
	}
	c.suspect, c.suspectOn = &l, c.prev
	return nil
}

// loosely reports whether l follows prev at its place or one place
// earlier (where it stood before a row was slipped in and the rest
// renumbered).
func loosely(prev []byte, l AuditLink) bool {
	if bytes.Equal(AuditHash(prev, l), l.Hash) {
		return true
	}
	l.Seq--
	return bytes.Equal(AuditHash(prev, l), l.Hash)
}

func altered(l AuditLink) *AuditBreak {
	return &AuditBreak{Seq: l.Seq, ID: l.Event.ID, Problem: AuditBrokenAltered,
		Detail: "its hash does not follow from the row before it and its content: this row was changed, or the one before it, or rows before it were removed and the rest renumbered"}
}

// digestsDiffer explains a visible actor, subject or personal part that
// no longer gives its stored digest, unless erasure explains it.
func digestsDiffer(l AuditLink) string {
	ev := l.Event
	personalOK := bytes.Equal(AuditPersonalDigest(ev), l.PersonalDigest)
	if !personalOK && !erased(ev) {
		return "the IP, user agent or personal details differ from those written"
	}
	for _, id := range []struct {
		name, value string
		digest      []byte
	}{{"actor", ev.ActorID, l.ActorDigest}, {"subject", ev.SubjectID, l.SubjectDigest}} {
		if !bytes.Equal(AuditDigest(id.value), id.digest) && (!strings.HasPrefix(id.value, ErasedPrefix) || !erased(ev)) {
			return "the " + id.name + " differs from the one written"
		}
	}
	return ""
}

func (v *AuditVerifier) finish() {
	c := v.cur
	if c == nil {
		return
	}
	v.cur = nil
	if c.rep.Broken == nil && c.suspect != nil {
		c.rep.Broken = altered(*c.suspect)
	}
	if c.head != nil && !c.headSeen && c.headBroken == nil {
		c.headBroken = &AuditBreak{Seq: c.head.Seq, Problem: AuditBrokenHead,
			Detail: fmt.Sprintf("the recorded head (seq %d) is no longer in the chain, which ends at seq %d: rows were removed from its end", c.head.Seq, c.rep.Head.Seq)}
	}
	if c.rep.Broken == nil {
		c.rep.Broken = c.headBroken
	}
	delete(v.against, c.rep.Chain)
	v.report.Chains = append(v.report.Chains, *c.rep)
}

// Report ends the walk and returns the report.
func (v *AuditVerifier) Report() AuditReport {
	v.finish()
	for chain, h := range v.against { // chains that are gone altogether
		v.report.Chains = append(v.report.Chains, AuditChainReport{Chain: chain, Broken: &AuditBreak{Seq: h.Seq, Problem: AuditBrokenHead,
			Detail: "the chain of the recorded head has no rows any more"}})
	}
	v.against = map[int]AuditHead{}
	slices.SortFunc(v.report.Chains, func(a, b AuditChainReport) int { return a.Chain - b.Chain })
	v.report.OK = true
	for _, c := range v.report.Chains {
		if c.Broken != nil {
			v.report.OK = false
		}
	}
	if v.report.Chains == nil {
		v.report.Chains = []AuditChainReport{}
	}
	return v.report
}
