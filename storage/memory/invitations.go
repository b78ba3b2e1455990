package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func (s *Store) CreateInvitation(_ context.Context, inv storage.Invitation, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orgs[inv.OrgID]; !ok {
		return storage.ErrNotFound
	}
	for _, x := range s.invitations {
		if x.TokenHash == inv.TokenHash {
			return storage.ErrConflict
		}
	}
	if inv.ID == "" {
		inv.ID = random.ID()
	}
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = s.stamp()
	}
	inv.Email = strings.ToLower(inv.Email)
	if inv.Language == "" {
		inv.Language = "en"
	}
	s.invitations[inv.ID] = inv
	s.appendAudit(ev)
	return nil
}

func (s *Store) InvitationsOf(_ context.Context, orgID string) ([]storage.Invitation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Invitation
	for _, inv := range s.invitations {
		if inv.OrgID == orgID {
			out = append(out, inv)
		}
	}
	slices.SortFunc(out, func(a, b storage.Invitation) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *Store) InvitationByTokenHash(_ context.Context, tokenHash string) (storage.Invitation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inv := range s.invitations {
		if inv.TokenHash == tokenHash {
			return inv, nil
		}
	}
	return storage.Invitation{}, storage.ErrNotFound
}

func (s *Store) RevokeInvitation(_ context.Context, orgID, id string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invitations[id]
	if !ok || inv.OrgID != orgID || !inv.Pending(now) {
		return storage.ErrNotFound
	}
	inv.RevokedAt = now
	s.invitations[id] = inv
	s.appendAudit(ev)
	return nil
}

func (s *Store) AcceptInvitation(_ context.Context, tokenHash string, u storage.User, now time.Time, inviterMay func(inviterRole, invitedRole string, platformAdmin bool) bool, ev storage.AuditEvent) (storage.Invitation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, inv := range s.invitations {
		if inv.TokenHash != tokenHash {
			continue
		}
		if err := inv.Acceptable(u, now); err != nil {
			return inv, err
		}
		role := s.memberships[[2]string{inv.InvitedBy, inv.OrgID}].Role
		if c, ok := s.clients[inv.InvitedBy]; ok && role == "" && c.OrgID == inv.OrgID {
			role = c.ServiceRole
		}
		if !inviterMay(role, inv.Role, s.users[inv.InvitedBy].PlatformAdmin) {
			return inv, storage.ErrRevoked
		}
		key := [2]string{u.ID, inv.OrgID}
		if _, member := s.memberships[key]; member {
			return inv, storage.ErrConflict
		}
		at := s.stamp()
		s.memberships[key] = storage.Membership{UserID: u.ID, OrgID: inv.OrgID, Role: inv.Role, CreatedAt: at, UpdatedAt: at}
		inv.AcceptedAt, inv.AcceptedBy = now, u.ID
		s.invitations[id] = inv
		ev.OrgID = inv.OrgID // the caller cannot know it before the token is redeemed
		s.appendAudit(ev)
		return inv, nil
	}
	return storage.Invitation{}, storage.ErrNotFound
}
