package manage_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
	"github.com/optibid/idp/storage/memory"
)

// brokenStore reports a broken chain, as a backend whose log was tampered
// with does.
type brokenStore struct{ *memory.Store }

func (brokenStore) VerifyAudit(context.Context, []storage.AuditHead) (storage.AuditReport, error) {
	return storage.AuditReport{Rows: 3, Chains: []storage.AuditChainReport{{Chain: 4, Rows: 3,
		Broken: &storage.AuditBreak{Seq: 2, ID: "x", Problem: storage.AuditBrokenMissing, Detail: "rows 2 to 2 are missing"}}}}, nil
}

// audit verify prints the report, checks the heads of an earlier one, and
// fails (ErrAuditBroken, naming the break) when a chain does not hold.
func TestVerifyAuditAgainst(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	svc := &manage.Service{Store: store}
	for range 3 {
		if err := svc.Store.AppendAudit(ctx, manage.CLI.Event(time.Now(), manage.EventLogout, manage.About{})); err != nil {
			t.Fatal(err)
		}
	}
	var printed []byte
	printer := func(v any) (err error) { printed, err = json.Marshal(v); return err }
	if err := svc.VerifyAuditAgainst(ctx, "", printer); err != nil {
		t.Fatal(err)
	}
	earlier := filepath.Join(t.TempDir(), "earlier.json")
	if err := os.WriteFile(earlier, printed, 0o600); err != nil {
		t.Fatal(err)
	}
	heads, err := manage.AuditHeads(printed)
	if err != nil || len(heads) != 1 || heads[0].Seq != 3 {
		t.Fatalf("heads of %s: %+v %v", printed, heads, err)
	}
	if err := svc.VerifyAuditAgainst(ctx, earlier, printer); err != nil {
		t.Fatalf("against the earlier report: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"rows": 3}`), 0o600)
	var v *manage.ValidationError
	if err := svc.VerifyAuditAgainst(ctx, bad, printer); !errors.As(err, &v) {
		t.Fatalf("not a report: %v", err)
	}
	heads[0].Hash = "00"
	other, _ := json.Marshal(storage.AuditReport{Chains: []storage.AuditChainReport{{Rows: 3, Head: heads[0]}}})
	_ = os.WriteFile(bad, other, 0o600)
	if err := svc.VerifyAuditAgainst(ctx, bad, printer); !errors.Is(err, manage.ErrAuditBroken) {
		t.Fatalf("against a head that is not there: %v", err)
	}

	printed = nil
	broken := &manage.Service{Store: brokenStore{store}}
	err = broken.VerifyAuditAgainst(ctx, "", printer)
	if !errors.Is(err, manage.ErrAuditBroken) || printed == nil {
		t.Fatalf("broken chain: %v (printed %s)", err, printed)
	}
	t.Log(err)
}
