-- APIs as resource servers (audience-bound access tokens), what each
-- client may do with them, service accounts, per-client CORS origins, the
-- resources of authorization requests and grants, and stored consent.

-- +goose Up
CREATE TABLE apis (
    identifier       text PRIMARY KEY,
    name             text NOT NULL DEFAULT '',
    org_id           text REFERENCES organizations (id) ON DELETE CASCADE,
    scopes           jsonb NOT NULL DEFAULT '[]',
    access_token_ttl bigint NOT NULL DEFAULT 0, -- seconds; 0: the default
    signing_alg      text NOT NULL DEFAULT '',
    claims           text[] NOT NULL DEFAULT '{}',
    require_grant    boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER apis_updated_at BEFORE UPDATE ON apis
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE clients
    ADD COLUMN first_party     boolean NOT NULL DEFAULT false,
    ADD COLUMN apis            text[] NOT NULL DEFAULT '{}',
    ADD COLUMN default_api     text NOT NULL DEFAULT '',
    ADD COLUMN acts_for        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN service_role    text NOT NULL DEFAULT '',
    ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}';

ALTER TABLE auth_requests ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
ALTER TABLE grants ADD COLUMN resources text[] NOT NULL DEFAULT '{}';

CREATE TABLE consents (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[] NOT NULL DEFAULT '{}',
    resources  text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);

-- +goose Down
-- Forward-only.
