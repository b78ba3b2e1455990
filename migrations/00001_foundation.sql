-- The foundation: tenants, accounts, clients, the authorization-code and
-- token life cycle, SSO sessions, signing keys and the append-only audit log.
-- All timestamps are timestamptz (stored UTC). Secrets are stored only as
-- SHA-256 hashes (codes, refresh tokens, session IDs, client secrets) or
-- sealed with AES-GCM (signing keys).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TABLE organizations (
    id         text PRIMARY KEY,
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER organizations_updated_at BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE users (
    id             text PRIMARY KEY,
    email          text NOT NULL UNIQUE CHECK (email = lower(email)),
    name           text NOT NULL DEFAULT '',
    password_hash  text NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    disabled       boolean NOT NULL DEFAULT false,
    failed_logins  integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE user_organization_membership (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id     text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX user_organization_membership_org ON user_organization_membership (org_id);
CREATE TRIGGER user_organization_membership_updated_at BEFORE UPDATE ON user_organization_membership
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE clients (
    id                           text PRIMARY KEY,
    name                         text NOT NULL DEFAULT '',
    secret_hash                  text NOT NULL DEFAULT '',
    redirect_uris                text[] NOT NULL DEFAULT '{}',
    post_logout_redirect_uris    text[] NOT NULL DEFAULT '{}',
    grant_types                  text[] NOT NULL DEFAULT '{}',
    scopes                       text[] NOT NULL DEFAULT '{}',
    require_consent              boolean NOT NULL DEFAULT false,
    id_token_signed_response_alg text NOT NULL DEFAULT '',
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER clients_updated_at BEFORE UPDATE ON clients
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per /authorize transaction. Kept after redemption until expiry so
-- that a replayed code can find, and revoke, the grant it produced.
CREATE TABLE auth_requests (
    id                    text PRIMARY KEY,
    client_id             text NOT NULL,
    redirect_uri          text NOT NULL,
    state                 text NOT NULL DEFAULT '',
    nonce                 text NOT NULL DEFAULT '',
    scopes                text[] NOT NULL DEFAULT '{}',
    response_type         text NOT NULL,
    response_mode         text NOT NULL DEFAULT '',
    code_challenge        text NOT NULL DEFAULT '',
    code_challenge_method text NOT NULL DEFAULT '',
    prompt                text[] NOT NULL DEFAULT '{}',
    max_age               bigint,
    login_hint            text NOT NULL DEFAULT '',
    hint_subject          text NOT NULL DEFAULT '',
    acr_values            text[] NOT NULL DEFAULT '{}',
    ui_locales            text[] NOT NULL DEFAULT '{}',
    browser_hash          text NOT NULL,
    user_id               text NOT NULL DEFAULT '',
    auth_time             timestamptz,
    amr                   text[] NOT NULL DEFAULT '{}',
    session_hash          text NOT NULL DEFAULT '',
    done                  boolean NOT NULL DEFAULT false,
    code_hash             text UNIQUE,
    code_expires_at       timestamptz,
    redeemed_at           timestamptz,
    grant_id              text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

-- A grant is a token family: one code redemption and every refresh token
-- rotated from it. Revoking the grant kills every token of the family.
CREATE TABLE grants (
    id         text PRIMARY KEY,
    client_id  text NOT NULL,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     text[] NOT NULL DEFAULT '{}',
    auth_time  timestamptz NOT NULL,
    amr        text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE refresh_tokens (
    hash       text PRIMARY KEY,
    grant_id   text NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id  text NOT NULL,
    user_id    text NOT NULL,
    scopes     text[] NOT NULL DEFAULT '{}',
    auth_time  timestamptz NOT NULL,
    amr        text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- JWT IDs of access tokens revoked before their expiry.
CREATE TABLE revoked_access_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE user_sessions (
    id_hash      text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    timestamptz NOT NULL,
    amr          text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    ip           text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE signing_keys (
    id                 text PRIMARY KEY,
    algorithm          text NOT NULL,
    state              text NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key_sealed bytea NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    activated_at       timestamptz,
    retired_at         timestamptz,
    expires_at         timestamptz
);
-- At most one current and one next key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (algorithm) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (algorithm) WHERE state = 'next';

-- Append-only: the trigger below refuses UPDATE and DELETE for everyone,
-- the application included.
CREATE TABLE audit_log (
    id         text PRIMARY KEY,
    time       timestamptz NOT NULL DEFAULT now(),
    type       text NOT NULL,
    actor_id   text NOT NULL DEFAULT '',
    subject_id text NOT NULL DEFAULT '',
    org_id     text NOT NULL DEFAULT '',
    client_id  text NOT NULL DEFAULT '',
    ip         text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_time ON audit_log (time DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, time DESC);
CREATE INDEX audit_log_subject ON audit_log (subject_id, time DESC);

-- +goose StatementBegin
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

-- +goose Down
-- Forward-only: there is no way down.
