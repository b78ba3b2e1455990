-- Accounts and MFA: organization MFA policy and verified domains, user
-- phones, client MFA and email requirements, pending logins, email-link
-- tokens, TOTP secrets (sealed), backup codes and SMS/email codes (hashed).

-- +goose Up
ALTER TABLE organizations ADD COLUMN mfa_policy text NOT NULL DEFAULT 'optional'
    CHECK (mfa_policy IN ('off', 'optional', 'required'));
ALTER TABLE organizations ADD COLUMN require_verified_email boolean NOT NULL DEFAULT false;

CREATE TABLE organization_domains (
    domain      text PRIMARY KEY CHECK (domain = lower(domain)),
    org_id      text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    verified_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organization_domains_org ON organization_domains (org_id);

ALTER TABLE users ADD COLUMN phone text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_verified boolean NOT NULL DEFAULT false;

ALTER TABLE clients ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN require_verified_email boolean NOT NULL DEFAULT false;

ALTER TABLE auth_requests ADD COLUMN pending_user_id text NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN pending_amr text[] NOT NULL DEFAULT '{}';
ALTER TABLE auth_requests ADD COLUMN pending_at timestamptz;

CREATE TABLE action_tokens (
    hash       text PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX action_tokens_expires ON action_tokens (expires_at);

CREATE TABLE mfa_totp (
    user_id       text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_backup_codes (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE otp_challenges (
    id              text PRIMARY KEY,
    auth_request_id text NOT NULL,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('sms', 'email')),
    destination     text NOT NULL,
    code_hash       text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX otp_challenges_user ON otp_challenges (user_id, created_at);

-- +goose Down
-- Forward-only.
