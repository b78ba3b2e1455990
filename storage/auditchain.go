package storage

import (
	"bytes"
	"cmp"
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
// by an ErasedPrefix pseudonym in a row whose personal part is empty, with
// an erasure record (AuditErasureType) for that pseudonym and the digest
// of the ID it replaced.
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
// longer matches its digest only when it carries this prefix and an
// erasure record names it (AuditErasureType).
const ErasedPrefix = "erased-"

// AuditErasureType is the type of the row every erasure appends to the
// log itself, in the same transaction, whoever asked for it (in
// storage/postgres the erasure function writes it, so the servers' role
// cannot leave it out). Its details: "pseudonym", "erased_id_digest" (the
// hex SHA-256 of the erased ID: the digest its rewritten rows keep) and
// "rows" (how many rows were rewritten). Verification requires one for
// every pseudonym in the log, naming the digest of the ID each
// pseudonymized row was written with. A backend erases an ID at most once
// and never lets it back as an account's.
const AuditErasureType = "audit_erased"

// AuditChainIntegrity verifies the audit log's hash chains.
type AuditChainIntegrity interface {
	// VerifyAudit walks every chain in order and reports, per chain, its
	// rows, its head and every broken link. against holds heads
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
// broken, every pseudonym is accounted for by an erasure record, and every
// head checked against is still there.
type AuditReport struct {
	OK     bool               `json:"ok"`
	Rows   int64              `json:"rows"`
	Chains []AuditChainReport `json:"chains"`
}

// AuditChainReport is one chain's result. Head is its last row.
type AuditChainReport struct {
	Chain int       `json:"chain"`
	Rows  int64     `json:"rows"`
	Head  AuditHead `json:"head"`
	// Broken is the chain's first problem: Breaks[0], or else Against.
	// The chain holds when it is nil.
	Broken *AuditBreak `json:"broken,omitempty"`
	// Breaks is every broken link, by sequence number: the verifier goes
	// on after a break, so a later one is never hidden behind it.
	Breaks []AuditBreak `json:"breaks,omitempty"`
	// Against is the check of the head recorded for this chain, when it
	// failed; reported whether or not links broke too.
	Against *AuditBreak `json:"against,omitempty"`
}

// AuditBreak is a broken link of a chain: the row (by sequence number and
// ID) where the chain does not hold, and why.
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
	// AuditBrokenErasure: the row names an erased-… pseudonym that no
	// erasure record (AuditErasureType) accounts for: rows pseudonymized
	// behind the erasure's back.
	AuditBrokenErasure = "erasure_unrecorded"
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
//
// After a broken link it resynchronises and goes on, so that one break
// (which nobody can repair in an append-only log) never hides a later
// one: the next row is judged against the stored hash of the row before
// it, a row found slipped in is skipped, and rows found renumbered (by a
// row slipped in or removed) are judged at their former places.
type AuditVerifier struct {
	against map[int]AuditHead
	report  AuditReport
	cur     *chainCheck
	// Erasure: the records found (pseudonym → digests of the IDs they
	// erased, hex; "" for a record without one) and the rows naming a
	// pseudonym, judged at the end since a record may be in any chain.
	erasures map[string]map[string]bool
	named    []pseudonymRef
}

// pseudonymRef is a row naming an erased-… pseudonym as actor or subject.
type pseudonymRef struct {
	chain     int
	seq       int64
	id        string
	pseudonym string
	digest    string // hex digest of the ID it replaced; "" when written as it is
}

// chainCheck is the state of the chain being walked.
type chainCheck struct {
	rep           *AuditChainReport
	next          int64  // the sequence number expected next
	shift         int64  // rows were renumbered by this much: the hash covers Seq-shift
	prev          []byte // the hash the next row follows (nil: the zeros before row 1)
	prevPrev      []byte // the hash the row before follows
	prevPrevKnown bool   // false after a gap and at the start
	prevLink      AuditLink
	suspect       *AuditLink // a row whose link failed, judged by the row after it
	suspectOn     []byte     // the hash that row should have followed
	head          *AuditHead // the head to find again, if any
	headSeen      bool
}

// NewAuditVerifier starts a verification; against as for VerifyAudit.
func NewAuditVerifier(against []AuditHead) *AuditVerifier {
	v := &AuditVerifier{against: map[int]AuditHead{}, erasures: map[string]map[string]bool{}}
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
			c.rep.Against = &AuditBreak{Seq: l.Seq, ID: l.Event.ID, Problem: AuditBrokenHead,
				Detail: fmt.Sprintf("the row at seq %d has hash %s, not the recorded %s: the chain was rewritten from this row or before", l.Seq, c.rep.Head.Hash, c.head.Hash)}
		}
	}
	v.erasure(l)
	c.add(l)
}

// erasure notes l's erasure record, if it is one, and the pseudonyms it
// names.
func (v *AuditVerifier) erasure(l AuditLink) {
	ev := l.Event
	if ev.Type == AuditErasureType && strings.HasPrefix(ev.Details["pseudonym"], ErasedPrefix) {
		p := ev.Details["pseudonym"]
		if v.erasures[p] == nil {
			v.erasures[p] = map[string]bool{}
		}
		v.erasures[p][strings.ToLower(ev.Details["erased_id_digest"])] = true
	}
	for _, id := range []struct {
		value  string
		digest []byte
	}{{ev.ActorID, l.ActorDigest}, {ev.SubjectID, l.SubjectDigest}} {
		if !strings.HasPrefix(id.value, ErasedPrefix) {
			continue
		}
		r := pseudonymRef{chain: l.Chain, seq: l.Seq, id: ev.ID, pseudonym: id.value}
		if !bytes.Equal(AuditDigest(id.value), id.digest) {
			r.digest = hex.EncodeToString(id.digest)
		}
		v.named = append(v.named, r)
	}
}

// add judges l against the rows before it, reporting what broke.
func (c *chainCheck) add(l AuditLink) {
	if l.Seq < c.next {
		c.broke(l, AuditBrokenInserted, fmt.Sprintf("sequence number %d repeats or goes back (expected %d)", l.Seq, c.next))
		if msg := digestsDiffer(l); msg != "" {
			c.broke(l, AuditBrokenAltered, msg)
		}
		return // not part of the chain: the next row is judged against the row before it
	}
	if s := c.suspect; s != nil { // the row after a failed link decides
		c.suspect = nil
		switch {
		case l.Seq == c.next && c.follows(c.suspectOn, l, 1): // the rest renumbered past it
			c.inserted(*s)
			c.shift++
			c.accept(l)
			return
		case l.Seq == c.next && c.follows(c.suspectOn, l, 0):
			c.inserted(*s)
			c.accept(l)
			return
		}
		c.rep.Breaks = append(c.rep.Breaks, *altered(*s))
		if l.Seq == c.next && !c.follows(s.Hash, l, 0) && c.follows(s.Hash, l, -1) { // rows removed before it, the rest renumbered
			c.shift--
		}
	}
	if msg := digestsDiffer(l); msg != "" {
		c.broke(l, AuditBrokenAltered, msg)
	}
	switch {
	case l.Seq > c.next:
		c.rep.Breaks = append(c.rep.Breaks, AuditBreak{Seq: c.next, Problem: AuditBrokenMissing,
			Detail: fmt.Sprintf("rows %d to %d are missing", c.next, l.Seq-1)})
		c.accept(l) // its link cannot be checked: the row before it is gone
		c.prevPrevKnown = false
		return
	case c.follows(c.prev, l, 0):
	case c.prevPrevKnown && c.follows(c.prevPrev, l, 1): // prevPrev nil: the zeros before row 1
		c.inserted(c.prevLink)
		c.shift++
		c.prev = c.prevPrev
	case c.prevPrevKnown && c.follows(c.prevPrev, l, 0):
		c.inserted(c.prevLink)
		c.prev = c.prevPrev
	default:
		c.suspect, c.suspectOn = &l, c.prev
	}
	c.accept(l)
}

// follows reports whether l follows prev with its sequence number d
// places earlier than now (after the renumbering found so far).
func (c *chainCheck) follows(prev []byte, l AuditLink, d int64) bool {
	l.Seq -= c.shift + d
	return bytes.Equal(AuditHash(prev, l), l.Hash)
}

// accept makes l the row the next one is judged against.
func (c *chainCheck) accept(l AuditLink) {
	c.prevPrev, c.prevPrevKnown = c.prev, true
	c.prev, c.prevLink = l.Hash, l
	c.next = l.Seq + 1
}

func (c *chainCheck) broke(l AuditLink, problem, detail string) {
	c.rep.Breaks = append(c.rep.Breaks, AuditBreak{Seq: l.Seq, ID: l.Event.ID, Problem: problem, Detail: detail})
}

func (c *chainCheck) inserted(l AuditLink) {
	c.broke(l, AuditBrokenInserted, "the row after it links to the row before it: this row is not part of the chain")
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
	if c.suspect != nil {
		c.rep.Breaks = append(c.rep.Breaks, *altered(*c.suspect))
	}
	if c.head != nil && !c.headSeen {
		c.rep.Against = &AuditBreak{Seq: c.head.Seq, Problem: AuditBrokenHead,
			Detail: fmt.Sprintf("the recorded head (seq %d) is no longer in the chain, which ends at seq %d: rows were removed from its end", c.head.Seq, c.rep.Head.Seq)}
	}
	delete(v.against, c.rep.Chain)
	v.report.Chains = append(v.report.Chains, *c.rep)
}

// Report ends the walk and returns the report.
func (v *AuditVerifier) Report() AuditReport {
	v.finish()
	for chain, h := range v.against { // chains that are gone altogether
		v.report.Chains = append(v.report.Chains, AuditChainReport{Chain: chain, Against: &AuditBreak{Seq: h.Seq, Problem: AuditBrokenHead,
			Detail: "the chain of the recorded head has no rows any more"}})
	}
	v.against = map[int]AuditHead{}
	slices.SortFunc(v.report.Chains, func(a, b AuditChainReport) int { return a.Chain - b.Chain })
	for _, r := range v.named {
		if recs := v.erasures[r.pseudonym]; len(recs) > 0 && (r.digest == "" || recs[r.digest]) {
			continue
		}
		i := slices.IndexFunc(v.report.Chains, func(c AuditChainReport) bool { return c.Chain == r.chain })
		detail := "no " + AuditErasureType + " row records the erasure that wrote " + r.pseudonym
		if r.digest != "" {
			detail = "no " + AuditErasureType + " row records " + r.pseudonym + " replacing the ID this row was written with"
		}
		v.report.Chains[i].Breaks = append(v.report.Chains[i].Breaks, AuditBreak{Seq: r.seq, ID: r.id, Problem: AuditBrokenErasure, Detail: detail})
	}
	v.named = nil
	v.report.OK = true
	for i := range v.report.Chains {
		c := &v.report.Chains[i]
		slices.SortStableFunc(c.Breaks, func(a, b AuditBreak) int { return cmp.Compare(a.Seq, b.Seq) })
		c.Breaks = slices.CompactFunc(c.Breaks, func(a, b AuditBreak) bool { return a.Seq == b.Seq && a.ID == b.ID && a.Problem == b.Problem })
		c.Broken = c.Against
		if len(c.Breaks) > 0 {
			c.Broken = &c.Breaks[0]
		}
		if c.Broken != nil {
			v.report.OK = false
		}
	}
	if v.report.Chains == nil {
		v.report.Chains = []AuditChainReport{}
	}
	return v.report
}
