-- An organization may require a passkey of its members (phishing-resistant
-- sign-in): the policy gains the value 'passkey'.

-- +goose Up
ALTER TABLE organizations DROP CONSTRAINT organizations_mfa_policy_check;
ALTER TABLE organizations ADD CONSTRAINT organizations_mfa_policy_check
    CHECK (mfa_policy IN ('off', 'optional', 'required', 'passkey'));

-- +goose Down
-- Forward-only.
