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
	// ErrUnavailable: the backend could not be reached or timed out. Callers
	// must fail closed and map it to 503.
	ErrUnavailable = errors.New("storage: unavailable")
)
