-- Counters for send limits (per recipient, IP, organization, SMS
-- destination and prefix), one row per key and fixed window, shared by
-- every replica; expired windows are removed by the clean-up job.

-- +goose Up
CREATE TABLE rate_limits (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    count        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_expires ON rate_limits (expires_at);

-- +goose Down
-- Forward-only.
