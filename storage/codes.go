package storage

import (
	"maps"
	"time"
)

// LostAnswer is the one rule for retrying a code exchange (RFC 6749 says
// a code is used once; a replayed code revokes what it gave): a second
// presentation of a redeemed code, by the same client with the same
// redirect_uri and PKCE verifier and under the code's claim, is the
// retry of an answer that never went out, not a replay, only when the
// first redemption was made under the claim too (so its exchange is
// over: the claim was released, or died with its replica), its answer
// was never written, no replay of it was seen since (a replay ends every
// retry), and the retry comes within grace of it. A zero or negative
// grace allows none. The age is measured on two replicas' clocks: one
// that seems to lie ahead of the retry's (skewed clocks) allows none
// rather than a longer window.
func LostAnswer(claimed, delivered bool, redeemedAt, now time.Time, grace time.Duration) bool {
	age := now.Sub(redeemedAt)
	return claimed && !delivered && grace > 0 && age >= 0 && age < grace
}

// RetriedRedemption is the audit event of a retried code exchange: ev
// (the redemption's), naming the grant it replaces.
func RetriedRedemption(ev AuditEvent, replaced string) AuditEvent {
	if ev.Type == "" {
		return ev
	}
	ev.Details = maps.Clone(ev.Details)
	if ev.Details == nil {
		ev.Details = map[string]string{}
	}
	ev.Details["replaces_grant"] = replaced
	return ev
}
