-- An organization's look on the sign-in screens (display name, logo as a
-- data URL, colour, support link), checked by the management layer.

-- +goose Up
ALTER TABLE organizations ADD COLUMN branding jsonb NOT NULL DEFAULT '{}';

-- +goose Down
-- Forward-only.
