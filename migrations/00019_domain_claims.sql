-- Claims of a domain stand side by side: each organization may claim any
-- domain (an unverified claim proves nothing and vouches for nothing), and
-- only verification, which needs the DNS record bound to the organization,
-- decides who owns it. Before, a second organization's claim replaced the
-- first one's unverified claim, so any tenant could silently remove
-- another's pending claim, and the refusal to claim a verified domain told
-- any tenant which domains other customers had verified.

-- +goose Up
ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_pkey;
ALTER TABLE organization_domains ADD PRIMARY KEY (domain, org_id);
CREATE UNIQUE INDEX organization_domains_verified ON organization_domains (domain) WHERE verified_at IS NOT NULL;

-- +goose Down
-- Forward-only.
