package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/optibid/idp/storage"
)

// ErrAuditBroken is returned (wrapped, naming the first problem and
// counting the others) when a hash chain of the audit log does not hold.
var ErrAuditBroken = errors.New("audit log: a hash chain is broken")

// VerifyAudit walks every hash chain of the audit log (see
// storage.AuditChainIntegrity). A chain proves that no row was changed,
// removed or slipped in between rows, except by someone who can also
// recompute every hash after it; and erasure's pseudonymization is the
// one change it accepts. against holds the heads of an earlier report,
// kept where the database's owner cannot reach: each must still be in
// its chain with the same hash, which is what exposes a recomputed chain
// and rows removed from a chain's end.
func (s *Service) VerifyAudit(ctx context.Context, against []storage.AuditHead) (storage.AuditReport, error) {
	return s.Store.VerifyAudit(ctx, against)
}

// AuditHeads reads the chain heads of an earlier report (VerifyAudit's
// report as JSON, as `admin audit verify` prints it).
func AuditHeads(report []byte) ([]storage.AuditHead, error) {
	var rep struct {
		Chains *[]storage.AuditChainReport `json:"chains"`
	}
	if err := json.Unmarshal(report, &rep); err != nil || rep.Chains == nil {
		return nil, Invalid("against", "not a report of audit verify")
	}
	var heads []storage.AuditHead
	for _, c := range *rep.Chains {
		if c.Rows > 0 && c.Head.Hash != "" {
			heads = append(heads, c.Head)
		}
	}
	return heads, nil
}

// VerifyAuditAgainst is `admin audit verify`: it verifies against the
// heads of the earlier report in the file at path ("" for none), hands
// the report to print (every break of every chain, and every recorded
// head that no longer holds), and returns ErrAuditBroken naming the first
// problem when a chain does not hold.
func (s *Service) VerifyAuditAgainst(ctx context.Context, path string, print func(any) error) error {
	var against []storage.AuditHead
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		if against, err = AuditHeads(b); err != nil {
			return fmt.Errorf("audit verify: %s: %w", path, err)
		}
	}
	rep, err := s.VerifyAudit(ctx, against)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if err := print(rep); err != nil {
		return err
	}
	var first *storage.AuditChainReport
	problems := 0
	for i, c := range rep.Chains {
		n := len(c.Breaks)
		if c.Against != nil {
			n++
		}
		if c.Broken != nil && first == nil {
			first = &rep.Chains[i]
		}
		problems += n
	}
	if first == nil {
		return nil
	}
	b := first.Broken
	more := ""
	if problems > 1 {
		more = fmt.Sprintf(" (and %d more problems; see the report)", problems-1)
	}
	return fmt.Errorf("%w: chain %d, seq %d: %s: %s%s", ErrAuditBroken, first.Chain, b.Seq, b.Problem, b.Detail, more)
}
