-- An invitation is mailed in the invitee's language, and resent in the
-- same one: it records the language's tag. Earlier invitations are English.

-- +goose Up
ALTER TABLE invitations ADD COLUMN language text NOT NULL DEFAULT 'en';

-- +goose Down
-- Forward-only.
