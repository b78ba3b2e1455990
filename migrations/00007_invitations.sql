-- Invitations to join an organization by email: single use, expiring;
-- only the token's hash is stored.

-- +goose Up
CREATE TABLE invitations (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email       text NOT NULL,
    role        text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    invited_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by text NOT NULL DEFAULT '',
    revoked_at  timestamptz
);
CREATE INDEX invitations_org ON invitations (org_id, created_at DESC);

-- +goose Down
-- Forward-only.
