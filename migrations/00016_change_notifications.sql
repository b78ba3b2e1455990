-- Every replica keeps clients, APIs, signing keys and the feature
-- catalogue in memory. A change committed anywhere (another replica, the
-- CLI, a migration) is announced on the channel optibid_changes as
-- "<table>:<key>", delivered at commit, so every replica drops or reloads
-- its copy within moments instead of a cache TTL. Cascaded deletes (an
-- organization's clients) fire the child table's trigger too.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION optibid_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    row_json jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_json := to_jsonb(OLD);
    ELSE
        row_json := to_jsonb(NEW);
    END IF;
    PERFORM pg_notify('optibid_changes', TG_TABLE_NAME || ':' || coalesce(row_json ->> TG_ARGV[0], ''));
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION optibid_notify_change('id');
CREATE TRIGGER apis_changed AFTER INSERT OR UPDATE OR DELETE ON apis
    FOR EACH ROW EXECUTE FUNCTION optibid_notify_change('identifier');
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION optibid_notify_change('algorithm');
CREATE TRIGGER feature_definitions_changed AFTER INSERT OR UPDATE OR DELETE ON feature_definitions
    FOR EACH ROW EXECUTE FUNCTION optibid_notify_change('key');
CREATE TRIGGER organizations_changed AFTER INSERT OR UPDATE OR DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION optibid_notify_change('id');
CREATE TRIGGER organization_domains_changed AFTER INSERT OR UPDATE OR DELETE ON organization_domains
    FOR EACH ROW EXECUTE FUNCTION optibid_notify_change('org_id');

-- +goose Down
-- Forward-only.
