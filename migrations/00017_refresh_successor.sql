-- A rotated refresh token names its successor, so that the client's retry
-- of a refresh whose answer was lost (within the grace period, while the
-- successor is unused) rotates again instead of being taken for reuse.

-- +goose Up
ALTER TABLE refresh_tokens ADD COLUMN successor_hash text;

-- +goose Down
-- Forward-only.
