-- Passkeys (WebAuthn credentials) and the state of their ceremonies.
--
-- A credential belongs to one user and is found by its ID when an
-- authenticator presents it (a discoverable sign-in names no user). The
-- sign count only moves forward: a count at or below the stored one (when
-- either is non-zero) suggests a cloned authenticator and is refused.
--
-- A ceremony's challenge (the library's session data) is single-use,
-- short-lived and bound to the browser that asked for it, so it works
-- across replicas like every other piece of sign-in state.

-- +goose Up
CREATE TABLE passkeys (
    id               bytea PRIMARY KEY,
    user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL,
    public_key       bytea NOT NULL,
    attestation_type text NOT NULL DEFAULT '',
    aaguid           bytea NOT NULL DEFAULT ''::bytea,
    sign_count       bigint NOT NULL DEFAULT 0 CHECK (sign_count >= 0 AND sign_count <= 4294967295),
    backup_eligible  boolean NOT NULL DEFAULT false,
    backup_state     boolean NOT NULL DEFAULT false,
    transports       text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

CREATE TABLE passkey_challenges (
    id_hash         text PRIMARY KEY,
    purpose         text NOT NULL,
    user_id         text NOT NULL DEFAULT '',
    auth_request_id text NOT NULL DEFAULT '',
    browser_hash    text NOT NULL,
    session         bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at);

-- +goose Down
-- Forward-only.
