package storage

import (
	"strconv"
	"time"
)

// LockoutPolicy decides how long an account stays locked after its Nth
// consecutive failure. Both backends apply it inside the same atomic update
// that increments the counter, so concurrent failures cannot skip a step.
type LockoutPolicy struct {
	// BackoffAfter: from this many failures on, each further attempt must
	// wait a growing delay (BackoffBase doubled per failure, capped at
	// BackoffMax). Attempts during the delay are refused without a check.
	BackoffAfter int
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	// LockAfter: from this many failures on, the account is locked for
	// LockFor after every failure.
	LockAfter int
	LockFor   time.Duration
	// MaxFailures: the hard cap. Reaching it locks the account until a
	// password reset or an administrator unlocks it.
	MaxFailures int
}

// DefaultLockoutPolicy is backoff from the 5th failure, 15-minute locks from
// the 20th, a permanent lock at 100 (NIST SP 800-63B §5.2.2).
func DefaultLockoutPolicy() LockoutPolicy {
	return LockoutPolicy{
		BackoffAfter: 5, BackoffBase: time.Second, BackoffMax: time.Minute,
		LockAfter: 20, LockFor: 15 * time.Minute,
		MaxFailures: 100,
	}
}

// permanent is how far a hard lock reaches; far enough to mean "until
// someone acts", near enough to fit every backend's timestamp type.
const permanent = 100 * 365 * 24 * time.Hour

// LockedUntil returns the end of the lock that failures consecutive failures
// earn at now, or the zero time when they earn none.
func (p LockoutPolicy) LockedUntil(failures int, now time.Time) time.Time {
	switch {
	case p.MaxFailures > 0 && failures >= p.MaxFailures:
		return now.Add(permanent)
	case p.LockAfter > 0 && failures >= p.LockAfter:
		return now.Add(p.LockFor)
	case p.BackoffAfter > 0 && failures >= p.BackoffAfter:
		d := p.BackoffBase
		for i := p.BackoffAfter; i < failures && d < p.BackoffMax; i++ {
			d *= 2
		}
		return now.Add(min(d, p.BackoffMax))
	}
	return time.Time{}
}

// RetryEvent marks a refresh's audit event as the client's retry of a
// rotation whose answer was lost (refresh grace): the rotation itself has
// its row already, so an audit count of refreshes that clients received
// leaves these out.
func RetryEvent(ev AuditEvent) AuditEvent {
	if ev.Type == "" {
		return ev
	}
	d := make(map[string]string, len(ev.Details)+1)
	for k, v := range ev.Details {
		d[k] = v
	}
	d["retry"] = "lost_answer"
	ev.Details = d
	return ev
}

// LockEvent adds the count and the lock's end to a lock's audit event.
func LockEvent(ev AuditEvent, failures int, until time.Time) AuditEvent {
	d := make(map[string]string, len(ev.Details)+2)
	for k, v := range ev.Details {
		d[k] = v
	}
	d["failures"] = strconv.Itoa(failures)
	d["until"] = until.UTC().Format(time.RFC3339)
	ev.Details = d
	return ev
}

// LockedAfter reports whether checks admitted after t (later of them) may
// have reached the lock threshold: then a lock in force is theirs, and
// t's success must not get past it. The count they reached is at most
// t.Count+later (releases of earlier checks lower the stored count, not
// what those checks saw), so this errs towards refusing.
func LockedAfter(t Ticket, later int64) bool {
	return later > 0 && t.LockAfter > 0 && int64(t.Count)+later >= int64(t.LockAfter)
}

// FailuresAfter is what a success leaves of failures when later checks
// were admitted after its own: at most those, never one from before it.
// A later check that was released since still counts here (the store
// keeps no list of releases), so a success may leave a failure behind
// that the next one clears: it errs towards counting.
func FailuresAfter(failures int, later int64) int {
	return int(min(int64(failures), max(later, 0)))
}

// Locks reports whether reaching failures starts a lock worth an audit
// row: the timed lock's threshold or the hard cap.
func (p LockoutPolicy) Locks(failures int) bool {
	return failures == p.LockAfter || failures == p.MaxFailures
}
