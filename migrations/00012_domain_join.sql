-- Organizations opt in to members joining by their verified email domain.

-- +goose Up
ALTER TABLE organizations ADD COLUMN join_by_domain boolean NOT NULL DEFAULT false;

-- +goose Down
-- Forward-only.
