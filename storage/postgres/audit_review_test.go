package postgres_test

// Findings of a security review of audit integrity against the servers'
// role (optibid_app). Each test states the property that should hold; they
// fail while the finding is open.

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/postgres/pgtest"
)

// erase_user_audit is "callable only for an erasure", but the servers' role
// may INSERT into users: it can erase any ID (the CLI's, an operator's, a
// deleted user's) by creating a throwaway account with it first, or scrub
// a live user's trail and put the account back. Either way the IPs, user
// agents and personal details are gone, nothing in the log says so, and
// verify reports OK.
func TestReviewAppRoleCannotScrubArbitraryAuditTrails(t *testing.T) {
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
	if err != nil {
		t.Logf("refused (the property holds): %v", err)
		return
	}
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

// "The servers' role cannot break a chain at all": it can, with a row the
// trigger chains but the verifier reads differently (details that are not
// an object of strings). The break cannot be repaired (append-only), and
// since a chain reports only its first break, owner tampering later in that
// chain is no longer reported.
func TestReviewAppRoleCannotBreakOrMaskAChain(t *testing.T) {
	ctx := context.Background()
	ownerDSN := pgtest.DSN(t)
	appDSN, _, _ := appRole(t, ownerDSN)
	app := openDSN(t, appDSN)
	owner := openDSN(t, ownerDSN)
	if _, err := app.Pool().Exec(ctx, `INSERT INTO audit_log (id, type, details) VALUES ('poison', 'x', '{"n": 1}')`); err != nil {
		t.Fatalf("insert as the servers' role: %v", err)
	}
	var chain int
	var poisonSeq int64
	if err := app.Pool().QueryRow(ctx, `SELECT chain, seq FROM audit_log WHERE id = 'poison'`).Scan(&chain, &poisonSeq); err != nil {
		t.Fatal(err)
	}
	rep, err := app.VerifyAudit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Errorf("one INSERT by the servers' role breaks chain %d: %+v", chain, rep.Chains)
	}
	// Later rows in the same chain; the owner then alters one of them.
	for range 64 {
		if err := app.AppendAudit(ctx, storage.AuditEvent{Type: "login_succeeded", ActorID: "u-" + random.ID()[:6], IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	var laterID string
	if err := owner.Pool().QueryRow(ctx, `SELECT id FROM audit_log WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT 1`, chain, poisonSeq).Scan(&laterID); err != nil {
		t.Skipf("no later row landed in chain %d: %v", chain, err)
	}
	err = pgx.BeginFunc(ctx, owner.Pool(), func(tx pgx.Tx) error {
		for _, q := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`,
			`UPDATE audit_log SET actor_id = 'someone-else' WHERE id = '` + laterID + `'`,
			`ALTER TABLE audit_log ENABLE TRIGGER USER`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = owner.VerifyAudit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Chains {
		if c.Chain == chain && (c.Broken == nil || c.Broken.ID != laterID) {
			t.Errorf("the owner's alteration of %s (chain %d) is not reported; the report names only %+v", laterID, chain, c.Broken)
		}
	}
}
