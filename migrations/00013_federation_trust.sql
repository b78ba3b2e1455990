-- Who trusts an upstream identity provider for what: the operator's say on
-- email linking and upstream MFA, a role ceiling, and which links were
-- made on an email assertion (a password reset removes those).

-- +goose Up
ALTER TABLE connections
    ADD COLUMN allow_email_linking boolean NOT NULL DEFAULT false,
    ADD COLUMN trust_upstream_mfa  boolean NOT NULL DEFAULT false,
    ADD COLUMN max_role            text NOT NULL DEFAULT 'member';
ALTER TABLE federated_identities ADD COLUMN linked_by_email boolean NOT NULL DEFAULT false;

-- +goose Down
-- Forward-only.
