-- Platform administrators act across organizations (create and delete
-- them, act in any as an owner would, mark a domain verified by hand).
-- Granted only with the CLI (admin user platform-admin).

-- +goose Up
ALTER TABLE users ADD COLUMN platform_admin boolean NOT NULL DEFAULT false;

-- +goose Down
-- Forward-only.
