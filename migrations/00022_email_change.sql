-- A person changes their address: the link to the new address carries it
-- (data), and confirming it is the only way the address changes.

-- +goose Up
ALTER TABLE action_tokens DROP CONSTRAINT action_tokens_purpose_check;
ALTER TABLE action_tokens ADD CONSTRAINT action_tokens_purpose_check CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));
ALTER TABLE action_tokens ADD COLUMN data text NOT NULL DEFAULT '';

-- +goose Down
-- Forward-only.
