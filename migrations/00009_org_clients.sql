-- Relying parties an organization registers itself (through the
-- management API). NULL: a platform client (config or CLI).

-- +goose Up
ALTER TABLE clients ADD COLUMN org_id text REFERENCES organizations (id) ON DELETE CASCADE;
CREATE INDEX clients_org ON clients (org_id) WHERE org_id IS NOT NULL;

-- +goose Down
-- Forward-only.
