-- Audit integrity against the server's role, continued (see 00015).
--
-- 1. Details are a JSON object of strings. The trigger chains whatever an
--    INSERT says, and the Go verifier reads details as map[string]string:
--    a row with other details (numbers, arrays, null) would be chained one
--    way and read another, breaking its chain for good. The servers only
--    ever write objects of strings; the CHECK refuses anything else. It is
--    NOT VALID so that a row written before cannot stop this migration
--    (verify reports such a row, as it did); every new row is checked.
--
-- 2. Erasure is recorded, and an erased ID is gone for good. The server's
--    role may create accounts, so "callable only for an erasure" cannot
--    stop it from erasing any ID it likes (make an account with it first)
--    or from scrubbing a live user's trail (copy the account, erase it,
--    put it back). So erase_user_audit now
--    - appends its own audit row, of type audit_erased, through the normal
--      chained insert: the pseudonym, the SHA-256 of the erased ID (hex,
--      the digest the pseudonymized rows keep) and the count of rows
--      rewritten; the server cannot leave it out or take it back;
--    - records the digest of the erased ID in audit_erased_ids, which only
--      the owner may read or write, and refuses an ID erased before;
--    and a trigger on users refuses an account whose ID was erased, so an
--    erased account cannot be put back. Verify requires, for every
--    erased-… pseudonym in the log, an audit_erased row naming it, and,
--    for a row whose ID was replaced, one naming the digest that row keeps.
--    Pseudonyms already in the log (erasures before this migration) get
--    their audit_erased row here, marked as recorded by this migration.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION audit_details_valid(d jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT jsonb_typeof(d) = 'object'
       AND NOT EXISTS (SELECT FROM jsonb_each(d) e WHERE jsonb_typeof(e.value) <> 'string')
$$;
-- +goose StatementEnd
ALTER TABLE audit_log ADD CONSTRAINT audit_log_details_strings CHECK (audit_details_valid(details)) NOT VALID;

CREATE TABLE audit_erased_ids (
    digest    bytea PRIMARY KEY, -- SHA-256 of the erased user ID
    erased_at timestamptz NOT NULL DEFAULT now()
);
-- The default privileges of 00015 gave it to the server's role: take them back.
REVOKE ALL ON audit_erased_ids FROM optibid_app, PUBLIC;

-- +goose StatementBegin
CREATE FUNCTION users_not_erased() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF EXISTS (SELECT FROM audit_erased_ids e WHERE e.digest = sha256(convert_to(NEW.id, 'UTF8'))) THEN
        RAISE EXCEPTION 'users: this ID was erased and cannot be used again' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER users_not_erased BEFORE INSERT OR UPDATE OF id ON users
    FOR EACH ROW EXECUTE FUNCTION users_not_erased();

-- Same checks and rewrite as in 00015, plus the record and the one-time ID.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION erase_user_audit(p_user text, p_pseudonym text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET optibid.erasure = 'on' AS $$
DECLARE
    erased_email text;
    user_digest  bytea;
    n bigint;
BEGIN
    IF coalesce(p_user, '') = '' OR p_pseudonym IS NULL OR p_pseudonym NOT LIKE 'erased-_%' OR p_pseudonym = p_user THEN
        RAISE EXCEPTION 'erase_user_audit: needs a user ID and an erased-… pseudonym';
    END IF;
    IF EXISTS (SELECT FROM audit_log a WHERE a.actor_id = p_pseudonym OR a.subject_id = p_pseudonym)
       OR EXISTS (SELECT FROM audit_log a WHERE a.type = 'audit_erased' AND a.details->>'pseudonym' = p_pseudonym) THEN
        RAISE EXCEPTION 'erase_user_audit: the pseudonym is taken';
    END IF;
    DELETE FROM users u WHERE u.id = p_user RETURNING u.email INTO erased_email;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_user_audit: no such user' USING ERRCODE = 'no_data_found';
    END IF;
    user_digest := sha256(convert_to(p_user, 'UTF8'));
    INSERT INTO audit_erased_ids (digest) VALUES (user_digest) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_user_audit: this ID was erased before';
    END IF;
    UPDATE audit_log a SET
        actor_id = CASE WHEN a.actor_id = p_user THEN p_pseudonym ELSE a.actor_id END,
        subject_id = CASE WHEN a.subject_id = p_user THEN p_pseudonym ELSE a.subject_id END,
        ip = '', user_agent = '',
        details = a.details - audit_personal_keys()
    WHERE a.actor_id = p_user OR a.subject_id = p_user
       OR (a.details->>'email' <> '' AND lower(a.details->>'email') = lower(erased_email));
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO audit_log (id, type, details) VALUES (replace(gen_random_uuid()::text, '-', ''), 'audit_erased',
        jsonb_build_object('pseudonym', p_pseudonym, 'erased_id_digest', encode(user_digest, 'hex'), 'rows', n::text));
    RETURN n;
END;
$$;
-- +goose StatementEnd

-- Pseudonyms already in the log: one record per (pseudonym, digest of the
-- ID its rows replaced), or per pseudonym with an empty digest when no row
-- keeps one (erasures from before 00015); their IDs are erased for good.
INSERT INTO audit_erased_ids (digest)
SELECT DISTINCT actor_digest FROM audit_log WHERE actor_id LIKE 'erased-_%' AND actor_digest <> sha256(convert_to(actor_id, 'UTF8'))
UNION
SELECT DISTINCT subject_digest FROM audit_log WHERE subject_id LIKE 'erased-_%' AND subject_digest <> sha256(convert_to(subject_id, 'UTF8'))
ON CONFLICT DO NOTHING;
-- +goose StatementBegin
WITH named AS (
    SELECT actor_id AS pseudonym, nullif(actor_digest, sha256(convert_to(actor_id, 'UTF8'))) AS digest
        FROM audit_log WHERE actor_id LIKE 'erased-_%'
    UNION ALL
    SELECT subject_id, nullif(subject_digest, sha256(convert_to(subject_id, 'UTF8')))
        FROM audit_log WHERE subject_id LIKE 'erased-_%'
), found AS (
    SELECT pseudonym, digest, count(*) AS n FROM named GROUP BY pseudonym, digest
)
INSERT INTO audit_log (id, type, details)
SELECT replace(gen_random_uuid()::text, '-', ''), 'audit_erased',
    jsonb_build_object('pseudonym', f.pseudonym, 'erased_id_digest', coalesce(encode(f.digest, 'hex'), ''),
        'rows', f.n::text, 'recorded_by', 'migration 00018')
FROM found f
WHERE f.digest IS NOT NULL
   OR NOT EXISTS (SELECT FROM found g WHERE g.pseudonym = f.pseudonym AND g.digest IS NOT NULL)
ORDER BY f.pseudonym, f.digest;
-- +goose StatementEnd

-- Pin the search path of the new functions, as 00015 does.
-- +goose StatementBegin
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['audit_details_valid(jsonb)', 'users_not_erased()', 'erase_user_audit(text, text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
