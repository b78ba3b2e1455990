-- A code exchange whose answer was lost (its replica died after the
-- redemption committed, or it failed after it) may be retried: only when
-- it was redeemed while holding the code's claim (code_claimed: a session
-- advisory lock that dies with its replica), its answer was never written
-- (code_delivered_at), and the retry comes within tokens.code_grace with
-- the same client, redirect_uri and PKCE verifier. Every other second
-- presentation is a replay, as before.

-- +goose Up
ALTER TABLE auth_requests
    ADD COLUMN code_claimed boolean NOT NULL DEFAULT false,
    ADD COLUMN code_delivered_at timestamptz;

-- +goose Down
-- Forward-only.
