-- Feature entitlements: the feature catalogue, per-organization settings,
-- templates and the log of their application, the change log, the
-- dashboard widget library, per-user dashboard preferences and usage
-- counters. Organizations get a plan.

-- +goose Up
ALTER TABLE organizations ADD COLUMN plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'professional', 'enterprise'));

CREATE TABLE feature_definitions (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    category    text NOT NULL DEFAULT '',
    plans       text[] NOT NULL DEFAULT '{}',
    requires    text[] NOT NULL DEFAULT '{}',
    conflicts   text[] NOT NULL DEFAULT '{}',
    config      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER feature_definitions_updated_at BEFORE UPDATE ON feature_definitions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE org_feature_settings (
    org_id      text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    feature_key text NOT NULL REFERENCES feature_definitions (key) ON DELETE CASCADE,
    enabled     boolean NOT NULL,
    config      jsonb NOT NULL DEFAULT '{}',
    changed_by  text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, feature_key)
);

CREATE TABLE feature_templates (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    features    jsonb NOT NULL DEFAULT '{}', -- key → {enabled, config}
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER feature_templates_updated_at BEFORE UPDATE ON feature_templates
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE template_applications (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    template_id text NOT NULL,
    applied_by  text NOT NULL DEFAULT '',
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX template_applications_org ON template_applications (org_id, applied_at DESC);

CREATE TABLE feature_change_log (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    feature_key text NOT NULL,
    actor_id    text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb,
    template_id text NOT NULL DEFAULT '',
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feature_change_log_org ON feature_change_log (org_id, changed_at DESC);

CREATE TABLE widget_library (
    key               text PRIMARY KEY,
    name              text NOT NULL,
    description       text NOT NULL DEFAULT '',
    required_features text[] NOT NULL DEFAULT '{}',
    config            jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard_preferences (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id     text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    layout     jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, org_id)
);

CREATE TABLE feature_usage (
    org_id      text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     text NOT NULL DEFAULT '',
    feature_key text NOT NULL,
    day         date NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, user_id, feature_key, day)
);

-- +goose Down
-- Forward-only.
