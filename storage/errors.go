package storage

import "errors"

// Sentinel errors returned by every backend. Callers test them with errors.Is;
// backends translate driver errors (no rows, unique violations) into these at
// their boundary so that no driver type leaks upwards.
var (
	// ErrNotFound: the object does not exist (or has expired and is treated
	// as absent).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a unique constraint would be violated.
	ErrConflict = errors.New("storage: conflict")
	// ErrAlreadyUsed: a single-use secret (authorization code, rotated
	// refresh token) was presented again. The backend has already revoked
	// everything issued from it before returning this error.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrExpired: the object exists but its lifetime is over.
	ErrExpired = errors.New("storage: expired")
	// ErrRevoked: the object (grant, session) was revoked.
	ErrRevoked = errors.New("storage: revoked")
	// ErrLastOwner: the change would leave an organization without an
	// owner.
	ErrLastOwner = errors.New("storage: an organization needs an owner")
	// ErrMismatch: a code or secret did not match (the attempt was
	// counted).
	ErrMismatch = errors.New("storage: does not match")
	// ErrLocked: the account is locked; the credential was not checked.
	ErrLocked = errors.New("storage: account locked")
	// ErrCloned: an authenticator's signature counter went backwards (or
	// stood still): two copies of the key may exist.
	ErrCloned = errors.New("storage: authenticator may be cloned")
	// ErrUnavailable: the backend could not be reached or timed out. Callers
	// must fail closed and map it to 503.
	ErrUnavailable = errors.New("storage: unavailable")
)

// Sentinels returns every sentinel error above, in declaration order. It is
// the one list a backend consults to let a sentinel through its error
// translation unchanged (storage/postgres's translate): a sentinel missing
// here would reach callers as ErrUnavailable. A test in storage/postgres
// parses this package's source and fails when an Err variable is not listed.
func Sentinels() []error {
	return []error{ErrNotFound, ErrConflict, ErrAlreadyUsed, ErrExpired, ErrRevoked,
		ErrLastOwner, ErrMismatch, ErrLocked, ErrCloned, ErrUnavailable}
}

// IsSentinel reports whether err is, or wraps, one of Sentinels.
func IsSentinel(err error) bool {
	for _, s := range Sentinels() {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
