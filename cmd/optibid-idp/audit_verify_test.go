package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/app/apptest"
	"github.com/optibid/idp/manage"
)

// admin audit verify prints every chain's head, finds them again with
// --against, and fails when the owner of the schema altered a row or cut a
// chain short.
func TestAuditVerifyCLI(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, "postgres")
	cfgPath := cliConfig(t, e)
	admin := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(append([]string{"admin", "--config", cfgPath, "audit", "verify"}, args...), &out, io.Discard)
		return out.String(), err
	}
	_ = e.TokenOf("bob@example.com") // some history
	out, err := admin()
	if err != nil || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, `"head"`) {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	earlier := filepath.Join(t.TempDir(), "audit-heads.json")
	if err := os.WriteFile(earlier, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := admin("--against", earlier); err != nil {
		t.Fatalf("audit verify --against the earlier report: %v\n%s", err, out)
	}

	// The owner (the tests' role) can switch the triggers off and rewrite.
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, e.Cfg.Storage.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	tamper := func(q string) {
		t.Helper()
		for _, q := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`, q, `ALTER TABLE audit_log ENABLE TRIGGER USER`} {
			if _, err := owner.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	tamper(`DELETE FROM audit_log WHERE (chain, seq) = (SELECT chain, max(seq) FROM audit_log GROUP BY chain ORDER BY chain LIMIT 1)`)
	if out, err := admin(); err != nil {
		t.Fatalf("a chain cut short is invisible without recorded heads: %v\n%s", err, out)
	}
	if out, err := admin("--against", earlier); !errors.Is(err, manage.ErrAuditBroken) || !strings.Contains(out, `"problem": "head_differs"`) {
		t.Fatalf("audit verify --against after a chain was cut short: %v\n%s", err, out)
	}
	// Alter a row that is surely still there (the cut above may have taken
	// any chain's last row, or a whole one-row chain).
	tamper(`UPDATE audit_log SET type = type || '_altered' WHERE ctid = (SELECT ctid FROM audit_log LIMIT 1)`)
	out, err = admin()
	if !errors.Is(err, manage.ErrAuditBroken) || !strings.Contains(out, `"ok": false`) || !strings.Contains(out, `"problem": "altered"`) {
		t.Fatalf("audit verify after a row was altered: %v\n%s", err, out)
	}
	if _, err := admin("--against", filepath.Join(t.TempDir(), "none.json")); err == nil || errors.Is(err, manage.ErrAuditBroken) {
		t.Fatalf("--against a missing file: %v", err)
	}
}
