-- Erasure (GDPR article 17) keeps a user's audit rows but pseudonymizes
-- them. The audit log stays append-only for everything else: the trigger
-- lets an UPDATE through only inside a transaction that declared itself an
-- erasure (SET LOCAL optibid.erasure = 'on', which EraseUser does in the
-- transaction that deletes the user), and only one that leaves the event
-- itself (id, time, type, organization, client, request) as it was.
-- DELETE and TRUNCATE stay refused for everyone.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('optibid.erasure', true) = 'on'
       AND NEW.id = OLD.id AND NEW.time = OLD.time AND NEW.type = OLD.type AND NEW.org_id = OLD.org_id
       AND NEW.client_id = OLD.client_id AND NEW.request_id = OLD.request_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- Forward-only.
