package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/postgres"
	"github.com/optibid/idp/storage/postgres/pgtest"
	"github.com/optibid/idp/storage/storagetest"
)

// appRole creates a login role that is a member of optibid_app, as an
// operator does for the servers, and returns a DSN that connects as it to
// the database of ownerDSN (a copy of the migrated template, so the grants
// of migration 00015 are there), with its name and password. Roles are
// cluster-wide: the role is dropped when the test ends.
func appRole(t *testing.T, ownerDSN string) (dsn, user, password string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	user, password = "app_"+strings.ToLower(random.ID()), random.ID()
	if _, err := conn.Exec(ctx, `CREATE ROLE `+user+` LOGIN PASSWORD '`+password+`' IN ROLE optibid_app`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, ownerDSN)
		if err != nil {
			t.Log(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP ROLE `+user); err != nil {
			t.Logf("drop role %s: %v", user, err)
		}
	})
	return withUser(t, ownerDSN, user, password), user, password
}

// withUser is dsn (a URL or keyword/value string) connecting as user.
func withUser(t *testing.T, dsn, user, password string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(user, password)
		return u.String()
	}
	return dsn + " user=" + user + " password=" + password // the last setting wins
}

func openDSN(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// The servers' role runs the whole store: every conformance test passes as
// a member of optibid_app, erasure and every path that writes audit rows
// included, and every test's chains verify afterwards.
func TestConformanceAsAppRole(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite again, as the servers' role")
	}
	_, user, password := appRole(t, pgtest.DSN(t))
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := openDSN(t, withUser(t, pgtest.DSN(t), user, password))
		if _, err := s.Migrate(context.Background()); err != nil { // nothing pending: the servers' start
			t.Fatalf("migrate with nothing pending, as the servers' role: %v", err)
		}
		return s
	})
}

// wantRefused checks that err is PostgreSQL refusing the statement for
// lack of privilege or ownership.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("%s: want insufficient_privilege (42501), got %v", what, err)
	}
}

// The servers' role may read and append to audit_log and nothing else:
// no UPDATE, DELETE or TRUNCATE, no way to disable, drop or replace the
// triggers or their functions, to bypass them, or to forge the chain.
func TestAppRoleRefusedAuditChanges(t *testing.T) {
	ctx := context.Background()
	ownerDSN := pgtest.DSN(t)
	appDSN, _, _ := appRole(t, ownerDSN)
	app := openDSN(t, appDSN)
	if _, err := app.Migrate(ctx); err != nil {
		t.Fatalf("migrate with nothing pending, as the servers' role: %v", err)
	}
	if err := app.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := app.CreateUser(ctx, storage.User{Email: "erase-me@example.com"}, storage.AuditEvent{Type: "user_created"})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.AppendAudit(ctx, storage.AuditEvent{Type: "login_succeeded", ActorID: u.ID, IP: "192.0.2.1",
		Details: map[string]string{"email": u.Email}}); err != nil {
		t.Fatalf("append as the servers' role: %v", err)
	}
	if rows, err := app.ListAudit(ctx, storage.AuditFilter{}); err != nil || len(rows) != 2 {
		t.Fatalf("read as the servers' role: %v %v", rows, err)
	}

	for _, q := range []string{
		`UPDATE audit_log SET type = 'x'`,
		`UPDATE audit_log SET ip = ''`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain`,
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
		`ALTER TABLE audit_log DISABLE TRIGGER USER`,
		`DROP TRIGGER audit_log_chain ON audit_log`,
		`DROP TRIGGER audit_log_no_update ON audit_log`,
		`CREATE TRIGGER sneak BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION set_updated_at()`,
		`CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
		`CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
		`CREATE OR REPLACE FUNCTION audit_row_hash(prev bytea, r audit_log) RETURNS bytea LANGUAGE sql AS $$ SELECT prev $$`,
		`CREATE OR REPLACE FUNCTION erase_user_audit(p_user text, p_pseudonym text) RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$`,
		`ALTER FUNCTION audit_chain() RESET search_path`,
		`ALTER TABLE audit_log RENAME TO audit_log_old`,
		`ALTER TABLE audit_log ALTER COLUMN hash DROP NOT NULL`,
		`DROP INDEX audit_log_chain_seq`,
		`DROP TABLE audit_log`,
		`SET session_replication_role = replica`,
	} {
		_, err := app.Pool().Exec(ctx, q)
		wantRefused(t, q, err)
	}
	// Declaring an erasure changes nothing: the role may not UPDATE at all.
	err = pgx.BeginFunc(ctx, app.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL optibid.erasure = 'on'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_log SET ip = '', user_agent = ''`)
		return err
	})
	wantRefused(t, "UPDATE in a transaction declaring an erasure", err)
	// The erasure function rewrites rows only with the erasure of an account.
	for _, args := range [][2]string{{"no-such-user", "erased-x"}, {u.ID, "not-a-pseudonym"}, {u.ID, storage.ErasedPrefix}} {
		if _, err := app.Pool().Exec(ctx, `SELECT erase_user_audit($1, $2)`, args[0], args[1]); err == nil {
			t.Errorf("erase_user_audit%v accepted", args)
		}
	}

	// What the role writes into the chain's columns is ignored, and a
	// temporary audit_log of its own does not stand in for the real one
	// when the trigger looks for the row before.
	conn, err := app.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO audit_log (id, type, chain, seq, hash, actor_digest, subject_digest, personal_digest)
			VALUES ('forged-columns', 'x', 0, 999, '\x00', '\x00', '\x00', '\x00')`,
		`CREATE TEMP TABLE audit_log (chain smallint, seq bigint, hash bytea)`,
		`INSERT INTO pg_temp.audit_log SELECT c, 500, '\xdead' FROM generate_series(0, 15) c`,
		`INSERT INTO public.audit_log (id, type) VALUES ('after-shadow', 'x')`,
		`DISCARD TEMP`, // before the connection goes back to the pool
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Release()
	var seqs []int64
	rows, _ := app.Pool().Query(ctx, `SELECT seq FROM public.audit_log WHERE id IN ('forged-columns', 'after-shadow')`)
	seqs, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(seqs) != 2 || slices.Contains(seqs, 999) || slices.Contains(seqs, 501) {
		t.Fatalf("chain columns taken from the role: %v %v", seqs, err)
	}

	// Erasure works as the servers' role, through the function, and keeps
	// the chains intact.
	pseudonym := storage.ErasedPrefix + random.ID()
	if err := app.EraseUser(ctx, u.ID, pseudonym, storage.AuditEvent{Type: "user_erased", SubjectID: pseudonym}); err != nil {
		t.Fatalf("erase as the servers' role: %v", err)
	}
	if rows, _ := app.ListAudit(ctx, storage.AuditFilter{UserID: pseudonym}); len(rows) != 2 || rows[1].IP != "" || rows[1].Details["email"] != "" {
		t.Fatalf("pseudonymized rows: %+v", rows)
	}
	if rep, err := app.VerifyAudit(ctx, nil); err != nil || !rep.OK || rep.Rows != 6 { // and the erasure's own record
		t.Fatalf("verify as the servers' role: %+v %v", rep, err)
	}
}

// Migrations are the owner's: the servers' role cannot apply them.
func TestAppRoleCannotMigrate(t *testing.T) {
	appDSN, _, _ := appRole(t, pgtest.EmptyDSN(t))
	app := openDSN(t, appDSN)
	_, err := app.Migrate(context.Background())
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("the servers' role migrating an empty database: want insufficient_privilege, got %v", err)
	}
}

// The SQL list of personal detail keys is storage.PersonalDetails: the
// trigger, erase_user_audit and the verifier split rows the same way.
func TestAuditPersonalKeysMatch(t *testing.T) {
	s := open(t)
	defer s.Close()
	var keys []string
	if err := s.Pool().QueryRow(context.Background(), `SELECT audit_personal_keys()`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, storage.PersonalDetails) {
		t.Fatalf("audit_personal_keys() = %v, storage.PersonalDetails = %v", keys, storage.PersonalDetails)
	}
}

// The schema's owner can change anything, triggers included; verify finds
// a row it altered, deleted or slipped in, and, against heads recorded
// earlier, rows it removed from a chain's end.
func TestAuditVerifyFindsOwnerTampering(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (s *postgres.Store, chain int) {
		s = openDSN(t, pgtest.DSN(t))
		for i := range 64 { // one transaction each: spread over the chains
			if err := s.AppendAudit(ctx, storage.AuditEvent{Type: "login_succeeded", ActorID: "u" + random.ID()[:4], IP: "192.0.2.1",
				Details: map[string]string{"method": "password", "n": string(rune('a' + i%26))}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Pool().QueryRow(ctx, `SELECT chain FROM audit_log GROUP BY chain HAVING count(*) >= 4 ORDER BY count(*) DESC, chain LIMIT 1`).Scan(&chain); err != nil {
			t.Fatalf("no chain with 4 rows: %v", err)
		}
		return s, chain
	}
	// owner runs statements with the table's triggers off, as only the
	// owner (or a superuser) can.
	owner := func(t *testing.T, s *postgres.Store, stmts ...string) {
		t.Helper()
		err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			for _, q := range append(append([]string{`ALTER TABLE audit_log DISABLE TRIGGER USER`}, stmts...), `ALTER TABLE audit_log ENABLE TRIGGER USER`) {
				if _, err := tx.Exec(ctx, q); err != nil {
					return errors.Join(errors.New(q), err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	broken := func(t *testing.T, s *postgres.Store, chain int, against []storage.AuditHead) *storage.AuditBreak {
		t.Helper()
		rep, err := s.VerifyAudit(ctx, against)
		if err != nil {
			t.Fatal(err)
		}
		var b *storage.AuditBreak
		for _, c := range rep.Chains {
			switch {
			case c.Chain == chain:
				b = c.Broken
			case c.Broken != nil:
				t.Fatalf("chain %d broken too: %+v", c.Chain, c.Broken)
			}
		}
		if (b == nil) != rep.OK {
			t.Fatalf("report OK=%v with break %+v", rep.OK, b)
		}
		return b
	}
	where := func(chain int, seq string) string { return fmt.Sprintf(` WHERE chain = %d AND seq %s`, chain, seq) }
	want := func(t *testing.T, b *storage.AuditBreak, problem string, seq int64) {
		t.Helper()
		if b == nil || b.Problem != problem || b.Seq != seq {
			t.Fatalf("want %s at seq %d, got %+v", problem, seq, b)
		}
	}

	t.Run("untouched", func(t *testing.T) {
		t.Parallel()
		s, chain := setup(t)
		if b := broken(t, s, chain, nil); b != nil {
			t.Fatalf("untouched log: %+v", b)
		}
	})
	t.Run("altered", func(t *testing.T) {
		t.Parallel()
		s, chain := setup(t)
		owner(t, s, `UPDATE audit_log SET details = details || '{"method": "passkey"}'`+where(chain, "= 2"))
		want(t, broken(t, s, chain, nil), storage.AuditBrokenAltered, 2)
	})
	t.Run("actor replaced", func(t *testing.T) {
		t.Parallel()
		s, chain := setup(t)
		owner(t, s, `UPDATE audit_log SET actor_id = 'someone-else'`+where(chain, "= 3"))
		want(t, broken(t, s, chain, nil), storage.AuditBrokenAltered, 3)
	})
	t.Run("deleted", func(t *testing.T) {
		t.Parallel()
		s, chain := setup(t)
		owner(t, s, `DELETE FROM audit_log`+where(chain, "= 2"))
		want(t, broken(t, s, chain, nil), storage.AuditBrokenMissing, 2)
	})
	t.Run("inserted", func(t *testing.T) {
		t.Parallel()
		s, chain := setup(t)
		var prev []byte
		if err := s.Pool().QueryRow(ctx, `SELECT hash FROM audit_log`+where(chain, "= 1")).Scan(&prev); err != nil {
			t.Fatal(err)
		}
		// A row that follows row 1 properly, the rows after it renumbered.
		l := storage.ChainAudit(prev, chain, 2, storage.AuditEvent{ID: "forged", Time: time.Now().UTC().Truncate(time.Microsecond),
			Type: "login_succeeded", ActorID: "u-forged"})
		owner(t, s, `UPDATE audit_log SET seq = -seq - 1`+where(chain, ">= 2"), `UPDATE audit_log SET seq = -seq`+where(chain, "< 0"))
		if _, err := s.Pool().Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, `INSERT INTO audit_log (id, time, type, actor_id, chain, seq, hash, actor_digest, subject_digest, personal_digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, l.Event.ID, l.Event.Time, l.Event.Type, l.Event.ActorID,
			l.Chain, l.Seq, l.Hash, l.ActorDigest, l.SubjectDigest, l.PersonalDigest); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, `ALTER TABLE audit_log ENABLE TRIGGER audit_log_chain`); err != nil {
			t.Fatal(err)
		}
		b := broken(t, s, chain, nil)
		want(t, b, storage.AuditBrokenInserted, 2)
		if b.ID != "forged" {
			t.Fatalf("inserted row named %q", b.ID)
		}
	})
	t.Run("last row deleted", func(t *testing.T) {
		t.Parallel()
		s, chain := setup(t)
		rep, err := s.VerifyAudit(ctx, nil)
		if err != nil || !rep.OK {
			t.Fatalf("%+v %v", rep, err)
		}
		var recorded []storage.AuditHead
		for _, c := range rep.Chains {
			recorded = append(recorded, c.Head)
		}
		owner(t, s, `DELETE FROM audit_log`+where(chain, "= (SELECT max(seq) FROM audit_log"+where(chain, "> 0")+")"))
		if b := broken(t, s, chain, nil); b != nil {
			t.Fatalf("a chain's end removed is invisible without a recorded head, got %+v", b)
		}
		b := broken(t, s, chain, recorded)
		if b == nil || b.Problem != storage.AuditBrokenHead {
			t.Fatalf("against the recorded heads: %+v", b)
		}
	})
}
