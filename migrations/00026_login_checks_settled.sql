-- The checks up to this number of the user's sequence (users.login_checks)
-- were settled: forgiven by a successful sign-in that came after them, or
-- by a password reset. Releasing such a check later (it was shed, or
-- proved right before its second step) takes nothing back, since its
-- failure is no longer counted; before, it took back a failure made after
-- the success instead, one more guess for each check held in the queue.

-- +goose Up
ALTER TABLE users ADD COLUMN login_checks_settled bigint NOT NULL DEFAULT 0;

-- +goose Down
-- Forward-only.
