package manage

import (
	"context"
	"fmt"

	"github.com/optibid/idp/manage/privacy"
)

// ExportUser is a data-subject access request (GDPR art. 15): everything
// stored about the user, as one document; the export is audited.
func (s *Service) ExportUser(ctx context.Context, by Actor, userID string) (privacy.Document, error) {
	d, err := s.Store.UserData(ctx, userID)
	if err != nil {
		return privacy.Document{}, fmt.Errorf("user data: %w", err)
	}
	passkeys, err := s.Store.PasskeysByUser(ctx, userID)
	if err != nil {
		return privacy.Document{}, fmt.Errorf("passkeys: %w", err)
	}
	consents, err := s.Store.ConsentsOf(ctx, userID)
	if err != nil {
		return privacy.Document{}, fmt.Errorf("consents: %w", err)
	}
	if err := s.Store.AppendAudit(ctx, by.Event(s.now(), EventDataExported, About{Subject: userID})); err != nil {
		return privacy.Document{}, fmt.Errorf("audit: %w", err)
	}
	doc := privacy.Export(d, s.now())
	doc.Passkeys, doc.Applications = privacy.Passkeys(passkeys), privacy.Applications(consents)
	return doc, nil
}

// EraseUser erases the account (GDPR art. 17) and returns the pseudonym
// that replaces it in the audit trail. The row names only the pseudonym:
// no ID, IP or user agent of the person erased (by "self"); an operator
// erasing someone is named as themselves. A last owner must hand the
// organization over first (storage.ErrLastOwner).
func (s *Service) EraseUser(ctx context.Context, by Actor, userID, reason string) (string, error) {
	pseudonym := privacy.Pseudonym()
	actor := by
	if by.UserID == userID {
		actor = Actor{UserID: pseudonym, RequestID: by.RequestID}
	}
	err := s.Store.EraseUser(ctx, userID, pseudonym, actor.Event(s.now(), EventUserErased,
		About{Subject: pseudonym, Details: map[string]string{"by": reason}}))
	if err != nil {
		return "", fmt.Errorf("erase: %w", err)
	}
	return pseudonym, nil
}

// SetPlatformAdmin grants or withdraws platform operator rights.
func (s *Service) SetPlatformAdmin(ctx context.Context, by Actor, userID string, admin bool) error {
	typ := EventPlatformAdminGranted
	if !admin {
		typ = EventPlatformAdminWithdrawn
	}
	if err := s.Store.SetPlatformAdmin(ctx, userID, admin, by.Event(s.now(), typ, About{Subject: userID})); err != nil {
		return fmt.Errorf("platform admin: %w", err)
	}
	return nil
}
