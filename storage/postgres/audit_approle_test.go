package postgres_test

// Audit integrity against the servers' role (optibid_app), beyond what it
// is refused statement by statement (audit_integrity_test.go): it cannot
// scrub a trail behind an erasure's back, nor break a chain or hide later
// tampering behind a break.

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/migrations"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

// The servers' role may INSERT into users, so it could make an account
// with any ID (the CLI's, an operator's, a deleted user's) and erase it,
// or copy a live user's account, erase it and put it back. Erasure is
// recorded in the log by the erasure function itself, an erased ID cannot
// become an account again, and a scrub that leaves the account in place is
// refused.
func TestAppRoleCannotScrubArbitraryAuditTrails(t *testing.T) {
	ctx := context.Background()
	ownerDSN := pgtest.DSN(t)
	appDSN, _, _ := appRole(t, ownerDSN)
	app := openDSN(t, appDSN)
	live, err := app.CreateUser(ctx, storage.User{Email: "still-here@example.com"}, storage.AuditEvent{Type: "user_created"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []storage.AuditEvent{
		{Type: "login_succeeded", ActorID: live.ID, IP: "203.0.113.7", UserAgent: "attacker-ua"},
		{Type: "client_deleted", ActorID: "cli", IP: "203.0.113.8", Details: map[string]string{"client": "web"}},
	} {
		if err := app.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	err = pgx.BeginFunc(ctx, app.Pool(), func(tx pgx.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			// An ID that is no account: make it one, then erase it.
			{`INSERT INTO users (id, email) VALUES ('cli', 'throwaway@example.com')`, nil},
			{`SELECT erase_user_audit('cli', $1)`, []any{storage.ErasedPrefix + random.ID()}},
			// A live account: keep a copy, erase it, put it back.
			{`CREATE TEMP TABLE keep ON COMMIT DROP AS SELECT * FROM users WHERE id = $1`, []any{live.ID}},
			{`SELECT erase_user_audit($1, $2)`, []any{live.ID, storage.ErasedPrefix + random.ID()}},
			{`INSERT INTO users SELECT * FROM keep`, nil},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return errors.Join(errors.New(q.sql), err)
			}
		}
		return nil
	})
	if err == nil {
		rep, err := app.VerifyAudit(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ips int
		if err := app.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE ip <> ''`).Scan(&ips); err != nil {
			t.Fatal(err)
		}
		if _, err := app.UserByID(ctx, live.ID); err == nil && ips == 0 && rep.OK {
			t.Fatalf("the servers' role scrubbed the IPs of the CLI's and of a live user's audit rows; the account is still there and verify says OK (%d rows)", rep.Rows)
		}
	}

	// The throwaway account alone: the erasure goes through, but the log
	// says so (which pseudonym, the digest of the erased ID, how many
	// rows), the ID cannot be erased again nor be an account again, and
	// the record cannot be taken back.
	pseudonym := storage.ErasedPrefix + random.ID()
	err = pgx.BeginFunc(ctx, app.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email) VALUES ('cli', 'throwaway@example.com')`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT erase_user_audit('cli', $1)`, pseudonym)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	records, err := app.ListAudit(ctx, storage.AuditFilter{Type: storage.AuditErasureType})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 || records[0].Details["pseudonym"] != pseudonym || records[0].Details["rows"] != "1" ||
		records[0].Details["erased_id_digest"] != hex.EncodeToString(storage.AuditDigest("cli")) {
		t.Fatalf("erasure records: %+v", records)
	}
	if rep, err := app.VerifyAudit(ctx, nil); err != nil || !rep.OK {
		t.Fatalf("a recorded erasure: %+v %v", rep, err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, email) VALUES ('cli', 'again@example.com')`,
		`UPDATE users SET id = 'cli' WHERE id = '` + live.ID + `'`,
	} {
		if _, err := app.Pool().Exec(ctx, q); err == nil {
			t.Errorf("%s: an erased ID became an account again", q)
		}
	}
	if _, err := app.Pool().Exec(ctx, `SELECT * FROM audit_erased_ids`); err == nil {
		t.Error("the servers' role reads the erased IDs")
	} else {
		wantRefused(t, "SELECT FROM audit_erased_ids", err)
	}
	_, err = app.Pool().Exec(ctx, `DELETE FROM audit_erased_ids`)
	wantRefused(t, "DELETE FROM audit_erased_ids", err)
}

// The owner can pseudonymize rows past the erasure function (it may do
// anything), but verify then names every row whose pseudonym no erasure
// record accounts for.
func TestAuditVerifyRequiresErasureRecords(t *testing.T) {
	ctx := context.Background()
	owner := openDSN(t, pgtest.DSN(t))
	u, err := owner.CreateUser(ctx, storage.User{Email: "scrubbed@example.com"}, storage.AuditEvent{Type: "user_created"})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.AppendAudit(ctx, storage.AuditEvent{ID: "scrubbed", Type: "login_succeeded", ActorID: u.ID, IP: "192.0.2.9"}); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, owner.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL optibid.erasure = 'on'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_log SET actor_id = 'erased-behind-its-back', ip = '' WHERE id = 'scrubbed'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := owner.VerifyAudit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range rep.Chains {
		for _, b := range c.Breaks {
			found = found || (b.ID == "scrubbed" && b.Problem == storage.AuditBrokenErasure)
		}
	}
	if rep.OK || !found {
		t.Fatalf("an unrecorded pseudonymization: %+v", rep)
	}
}

// Details are a JSON object of strings, as the servers write them:
// anything else, which the trigger would chain one way and the verifier
// read another, is refused at insert. And a break, which nothing can
// repair in an append-only log, hides nothing after it: verify reports
// every break of a chain, and a head recorded earlier that no longer
// holds besides.
func TestAppRoleCannotBreakOrMaskAChain(t *testing.T) {
	ctx := context.Background()
	ownerDSN := pgtest.DSN(t)
	appDSN, _, _ := appRole(t, ownerDSN)
	app := openDSN(t, appDSN)
	owner := openDSN(t, ownerDSN)
	for _, details := range []string{`{"n": 1}`, `{"n": null}`, `{"n": true}`, `{"n": {}}`, `{"n": ["a"]}`, `[]`, `"s"`, `null`, `1`} {
		_, err := app.Pool().Exec(ctx, `INSERT INTO audit_log (id, type, details) VALUES ($1, 'x', $2)`, random.ID(), details)
		// Not an object: the trigger's encoding fails first (22023).
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "23514" && pgErr.Code != "22023") {
			t.Errorf("details %s: want check_violation (23514) or invalid_parameter_value (22023), got %v", details, err)
		}
	}
	for _, details := range []string{`{}`, `{"a": "b", "é": ""}`} {
		if _, err := app.Pool().Exec(ctx, `INSERT INTO audit_log (id, type, details) VALUES ($1, 'x', $2)`, random.ID(), details); err != nil {
			t.Errorf("details %s: %v", details, err)
		}
	}
	if rep, err := app.VerifyAudit(ctx, nil); err != nil || !rep.OK {
		t.Fatalf("after the servers' role's inserts: %+v %v", rep, err)
	}

	// Rows in the chains; the owner records the heads, then alters an
	// early row and a later one of one chain, and rewrites the hashes
	// after the later one.
	for range 128 { // one transaction each: spread over the chains
		if err := app.AppendAudit(ctx, storage.AuditEvent{Type: "login_succeeded", ActorID: "u-" + random.ID()[:6], IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := owner.VerifyAudit(ctx, nil)
	if err != nil || !rep.OK {
		t.Fatalf("%+v %v", rep, err)
	}
	var recorded []storage.AuditHead
	for _, c := range rep.Chains {
		recorded = append(recorded, c.Head)
	}
	var chain int
	if err := owner.Pool().QueryRow(ctx, `SELECT chain FROM audit_log GROUP BY chain HAVING count(*) >= 6 ORDER BY count(*) DESC, chain LIMIT 1`).Scan(&chain); err != nil {
		t.Fatalf("no chain with 6 rows: %v", err)
	}
	var earlyID, laterID string
	if err := owner.Pool().QueryRow(ctx, `SELECT (SELECT id FROM audit_log WHERE chain = $1 AND seq = 2), (SELECT id FROM audit_log WHERE chain = $1 AND seq = 5)`,
		chain).Scan(&earlyID, &laterID); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, owner.Pool(), func(tx pgx.Tx) error {
		for _, q := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`,
			`UPDATE audit_log SET type = 'other' WHERE id = '` + earlyID + `'`,
			`UPDATE audit_log SET actor_id = 'someone-else' WHERE id = '` + laterID + `'`,
			`UPDATE audit_log SET hash = '\x00' WHERE chain = ` + strconv.Itoa(chain) + ` AND seq = (SELECT max(seq) FROM audit_log WHERE chain = ` + strconv.Itoa(chain) + `)`,
			`ALTER TABLE audit_log ENABLE TRIGGER USER`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return errors.Join(errors.New(q), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = owner.VerifyAudit(ctx, recorded)
	if err != nil {
		t.Fatal(err)
	}
	reported := func(c storage.AuditChainReport, id string) bool {
		for _, b := range c.Breaks {
			if b.ID == id && b.Problem == storage.AuditBrokenAltered {
				return true
			}
		}
		return false
	}
	for _, c := range rep.Chains {
		switch {
		case c.Chain != chain:
			if c.Broken != nil {
				t.Errorf("chain %d broken too: %+v", c.Chain, c)
			}
		case !reported(c, earlyID) || !reported(c, laterID) || c.Broken == nil || c.Broken.ID != earlyID:
			t.Errorf("the alterations of %s and %s (chain %d) are not both reported: %+v", earlyID, laterID, chain, c.Breaks)
		case c.Against == nil || c.Against.Problem != storage.AuditBrokenHead:
			t.Errorf("the rewritten head of chain %d is not reported: %+v", chain, c)
		}
	}
	if rep.OK {
		t.Error("report OK")
	}
}

// Migration 00018 on a log that already holds erasures (by 00015's
// function, which wrote no record, and from before 00015, whose rows name
// the pseudonym as written) and a row whose details are no object of
// strings: it records those erasures, so verify accounts for them, and
// does not fail on the old row.
func TestAuditErasureRecordsMigration(t *testing.T) {
	ctx := context.Background()
	s := openDSN(t, pgtest.EmptyDSN(t))
	db := stdlib.OpenDBFromPool(s.Pool())
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, storage.User{Email: "old@example.com"}, storage.AuditEvent{Type: "user_created"})
	if err != nil {
		t.Fatal(err)
	}
	old := storage.ErasedPrefix + "before-00015"
	for _, ev := range []storage.AuditEvent{
		{Type: "login_succeeded", ActorID: u.ID, IP: "192.0.2.1"},
		{Type: "user_erased", SubjectID: old},
	} {
		if err := s.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	pseudonym := storage.ErasedPrefix + random.ID()
	for _, q := range []string{
		`SELECT erase_user_audit('` + u.ID + `', '` + pseudonym + `')`,
		`INSERT INTO audit_log (id, type, details) VALUES ('poison', 'x', '{"n": 1}')`,
	} {
		if _, err := s.Pool().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := s.VerifyAudit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Chains {
		for _, b := range c.Breaks {
			if b.ID != "poison" {
				t.Errorf("chain %d: %+v", c.Chain, b)
			}
		}
	}
	records, err := s.ListAudit(ctx, storage.AuditFilter{Type: storage.AuditErasureType})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range records {
		got[r.Details["pseudonym"]] = r.Details["erased_id_digest"]
	}
	if len(records) != 2 || got[old] != "" || got[pseudonym] != hex.EncodeToString(storage.AuditDigest(u.ID)) {
		t.Fatalf("records: %+v", records)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, 'back@example.com')`, u.ID); err == nil {
		t.Fatal("an ID erased before the migration became an account again")
	}
}
