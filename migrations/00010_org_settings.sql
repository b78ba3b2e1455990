-- Free-form organization settings (a JSON object the platform's apps
-- read through the management API), at most 16 KiB, checked by the API.

-- +goose Up
ALTER TABLE organizations ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';

-- +goose Down
-- Forward-only.
