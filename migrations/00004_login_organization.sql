-- The organization a login is for: requested by the client (organization
-- parameter or org:<slug> scope), chosen at login, and kept with the
-- grant so that refreshed tokens carry that organization's claims.

-- +goose Up
ALTER TABLE auth_requests ADD COLUMN org_request text NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN org_id text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN org_id text NOT NULL DEFAULT '';

-- +goose Down
-- Forward-only.
