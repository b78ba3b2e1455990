-- Audit integrity.
--
-- 1. The server's role. Migrations run as the owner of the schema; the
--    servers run as a login role that is a member of the group role
--    optibid_app (the operator creates it: CREATE ROLE … LOGIN IN ROLE
--    optibid_app). optibid_app may read and write every table as before,
--    but on audit_log only SELECT and INSERT: no UPDATE, DELETE, TRUNCATE
--    or TRIGGER, and since it owns nothing it can neither disable, drop or
--    replace a trigger or its function nor alter the table. Tables that
--    later migrations create get the same rights by default (ALTER DEFAULT
--    PRIVILEGES, for objects the migrating role creates); a later
--    append-only table must revoke them, as audit_log does here. Role
--    names are cluster-wide: an existing optibid_app is used as it is.
--
-- 2. Erasure. The server cannot UPDATE audit_log any more, so erasure
--    pseudonymizes through erase_user_audit, a SECURITY DEFINER function
--    owned by the owner, executable by optibid_app alone. It is callable
--    only for an erasure: it deletes the user's account row itself (which
--    optibid_app may do anyway) and then rewrites that user's rows, and
--    only the way erasure does (IDs to an erased-… pseudonym no row names
--    yet; IP, user agent and personal details cleared). The trigger keeps
--    refusing every other UPDATE, now including the chain's columns.
--
-- 3. Hash chains (storage/auditchain.go gives the encoding). A BEFORE
--    INSERT trigger fills chain, seq, the digests and hash of every row,
--    whatever the INSERT said, so every path (CTEs included) chains and
--    the server cannot forge them. A transaction's rows go to one of 16
--    chains (its transaction ID modulo 16): one advisory lock per writing
--    transaction, held until it commits, so the rows of one chain never
--    fork, concurrent writers mostly take different chains, and two
--    transactions never wait for each other's chains (no deadlock).
--    Existing rows become chain 0 in (time, id) order.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'optibid_app') THEN
        BEGIN
            CREATE ROLE optibid_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- a migration of another database made it meanwhile
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role % may not create roles: create the server''s group role first (CREATE ROLE optibid_app NOLOGIN), then migrate again', current_user;
        END;
    END IF;
END
$$;
-- +goose StatementEnd

-- The canonical encoding: f(s) and pairs(m) of storage/auditchain.go.
-- +goose StatementBegin
CREATE FUNCTION audit_field(t text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8')
$$;
-- +goose StatementEnd

-- Must equal storage.PersonalDetails (a test checks).
-- +goose StatementBegin
CREATE FUNCTION audit_personal_keys() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['email', 'phone', 'name', 'login_hint', 'username', 'destination', 'sub', 'subject']
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_pairs(d jsonb, personal boolean) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(audit_field(e.key) || audit_field(e.value), ''::bytea ORDER BY e.key COLLATE "C"), ''::bytea)
    FROM jsonb_each_text(d) e
    WHERE (e.key = ANY (audit_personal_keys())) = personal
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_personal_digest(ip text, user_agent text, details jsonb) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(audit_field(ip) || audit_field(user_agent) || audit_pairs(details, true))
$$;
-- +goose StatementEnd

ALTER TABLE audit_log
    ADD COLUMN chain           smallint,
    ADD COLUMN seq             bigint,
    ADD COLUMN hash            bytea,
    ADD COLUMN actor_digest    bytea,
    ADD COLUMN subject_digest  bytea,
    ADD COLUMN personal_digest bytea;

-- +goose StatementBegin
CREATE FUNCTION audit_row_hash(prev bytea, r audit_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(coalesce(prev, decode(repeat('00', 32), 'hex'))
        || int4send(r.chain::integer) || int8send(r.seq)
        || r.actor_digest || r.subject_digest || r.personal_digest
        || audit_field(r.id)
        || audit_field(to_char(r.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || audit_field(r.type) || audit_field(r.org_id) || audit_field(r.client_id) || audit_field(r.request_id)
        || audit_pairs(r.details, false))
$$;
-- +goose StatementEnd

-- The trigger runs as the inserting role, with the search path pinned so
-- that no object of that role's (a temporary audit_log, say) stands in.
-- +goose StatementBegin
CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev_seq  bigint;
    prev_hash bytea;
BEGIN
    NEW.chain := (txid_current() % 16)::smallint;
    PERFORM pg_advisory_xact_lock(1096107092, NEW.chain); -- 1096107092: 'AUDT'
    SELECT a.seq, a.hash INTO prev_seq, prev_hash FROM audit_log a
        WHERE a.chain = NEW.chain ORDER BY a.seq DESC LIMIT 1;
    NEW.seq := coalesce(prev_seq, 0) + 1;
    NEW.actor_digest := sha256(convert_to(NEW.actor_id, 'UTF8'));
    NEW.subject_digest := sha256(convert_to(NEW.subject_id, 'UTF8'));
    NEW.personal_digest := audit_personal_digest(NEW.ip, NEW.user_agent, NEW.details);
    NEW.hash := audit_row_hash(prev_hash, NEW);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- Existing rows: chain 0 in (time, id) order.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
-- +goose StatementBegin
DO $$
DECLARE
    r    audit_log;
    prev bytea;
    n    bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY time, id LOOP
        n := n + 1;
        r.chain := 0;
        r.seq := n;
        r.actor_digest := sha256(convert_to(r.actor_id, 'UTF8'));
        r.subject_digest := sha256(convert_to(r.subject_id, 'UTF8'));
        r.personal_digest := audit_personal_digest(r.ip, r.user_agent, r.details);
        r.hash := audit_row_hash(prev, r);
        UPDATE audit_log SET chain = r.chain, seq = r.seq, hash = r.hash, actor_digest = r.actor_digest,
            subject_digest = r.subject_digest, personal_digest = r.personal_digest WHERE id = r.id;
        prev := r.hash;
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;

ALTER TABLE audit_log
    ALTER COLUMN chain SET NOT NULL,
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL,
    ALTER COLUMN actor_digest SET NOT NULL,
    ALTER COLUMN subject_digest SET NOT NULL,
    ALTER COLUMN personal_digest SET NOT NULL;
CREATE UNIQUE INDEX audit_log_chain_seq ON audit_log (chain, seq);
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_chain();

-- UPDATE only as erasure does it: inside erase_user_audit (or a
-- transaction that says it erases), leaving the event, its place in the
-- chain and its digests as they were, and changing an ID only to a
-- pseudonym. DELETE and TRUNCATE stay refused for everyone.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('optibid.erasure', true) = 'on'
       AND NEW.id = OLD.id AND NEW.time = OLD.time AND NEW.type = OLD.type AND NEW.org_id = OLD.org_id
       AND NEW.client_id = OLD.client_id AND NEW.request_id = OLD.request_id
       AND NEW.chain = OLD.chain AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash
       AND NEW.actor_digest = OLD.actor_digest AND NEW.subject_digest = OLD.subject_digest
       AND NEW.personal_digest = OLD.personal_digest
       AND (NEW.actor_id = OLD.actor_id OR NEW.actor_id LIKE 'erased-_%')
       AND (NEW.subject_id = OLD.subject_id OR NEW.subject_id LIKE 'erased-_%')
       AND audit_pairs(NEW.details, false) = audit_pairs(OLD.details, false) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION erase_user_audit(p_user text, p_pseudonym text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET optibid.erasure = 'on' AS $$
DECLARE
    erased_email text;
    n bigint;
BEGIN
    IF coalesce(p_user, '') = '' OR p_pseudonym IS NULL OR p_pseudonym NOT LIKE 'erased-_%' OR p_pseudonym = p_user THEN
        RAISE EXCEPTION 'erase_user_audit: needs a user ID and an erased-… pseudonym';
    END IF;
    IF EXISTS (SELECT FROM audit_log a WHERE a.actor_id = p_pseudonym OR a.subject_id = p_pseudonym) THEN
        RAISE EXCEPTION 'erase_user_audit: the pseudonym is taken';
    END IF;
    DELETE FROM users u WHERE u.id = p_user RETURNING u.email INTO erased_email;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'erase_user_audit: no such user' USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE audit_log a SET
        actor_id = CASE WHEN a.actor_id = p_user THEN p_pseudonym ELSE a.actor_id END,
        subject_id = CASE WHEN a.subject_id = p_user THEN p_pseudonym ELSE a.subject_id END,
        ip = '', user_agent = '',
        details = a.details - audit_personal_keys()
    WHERE a.actor_id = p_user OR a.subject_id = p_user
       OR (a.details->>'email' <> '' AND lower(a.details->>'email') = lower(erased_email));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION erase_user_audit(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_user_audit(text, text) TO optibid_app;

-- Pin every function's search path: pg_catalog first, pg_temp last.
-- +goose StatementBegin
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['audit_field(text)', 'audit_personal_keys()', 'audit_pairs(jsonb, boolean)',
            'audit_personal_digest(text, text, jsonb)', 'audit_row_hash(bytea, audit_log)', 'audit_chain()',
            'audit_log_immutable()', 'erase_user_audit(text, text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The server's rights: every table as before, audit_log read and append
-- only, the migrations' own table read only.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO optibid_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO optibid_app', current_schema());
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO optibid_app', current_schema());
    IF to_regclass('goose_db_version') IS NOT NULL THEN
        REVOKE ALL ON goose_db_version FROM optibid_app;
        GRANT SELECT ON goose_db_version TO optibid_app;
    END IF;
    IF to_regclass('goose_db_version_id_seq') IS NOT NULL THEN
        REVOKE ALL ON SEQUENCE goose_db_version_id_seq FROM optibid_app;
    END IF;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON audit_log FROM optibid_app, PUBLIC;
GRANT SELECT, INSERT ON audit_log TO optibid_app;
ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO optibid_app;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO optibid_app;

-- +goose Down
-- Forward-only.
