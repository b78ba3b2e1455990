-- Federation: upstream identity providers (global, or an organization's
-- own), the upstream identities linked to local users, and the single-use
-- state of each trip upstream.

-- +goose Up
CREATE TABLE connections (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    type          text NOT NULL CHECK (type IN ('oidc', 'okta', 'google', 'azuread', 'auth0')),
    name          text NOT NULL,
    org_id        text REFERENCES organizations (id) ON DELETE CASCADE, -- NULL: offered to everyone
    config        jsonb NOT NULL DEFAULT '{}',
    secret_sealed bytea,
    enabled       boolean NOT NULL DEFAULT true,
    link_by_email boolean NOT NULL DEFAULT false,
    default_role  text NOT NULL DEFAULT 'member' CHECK (default_role IN ('owner', 'admin', 'member', 'viewer')),
    role_mapping  jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER connections_updated_at BEFORE UPDATE ON connections
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE federated_identities (
    connection_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    issuer        text NOT NULL,
    subject       text NOT NULL,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, issuer, subject)
);
CREATE INDEX federated_identities_user ON federated_identities (user_id);

CREATE TABLE sso_state (
    state_hash      text PRIMARY KEY,
    connection_id   text NOT NULL,
    auth_request_id text NOT NULL,
    nonce           text NOT NULL,
    code_verifier   text NOT NULL,
    browser_hash    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX sso_state_expires ON sso_state (expires_at);

ALTER TABLE auth_requests ADD COLUMN connection text NOT NULL DEFAULT '';

-- +goose Down
-- Forward-only.
