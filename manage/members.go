package manage

import (
	"context"
	"fmt"

	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// SetMemberRole gives m a new role in org, on behalf of a member with
// role own: nobody grants a role above their own or changes the role of
// someone above them. The organization keeps at least one owner
// (storage.ErrLastOwner).
func (s *Service) SetMemberRole(ctx context.Context, by Actor, org storage.Organization, own string, m storage.Membership, role string) error {
	if !roles.MayGrant(own, role) {
		return &RoleCeilingError{Role: role}
	}
	if !roles.MayGrant(own, m.Role) {
		return &RoleCeilingError{Role: m.Role}
	}
	return s.setMemberRole(ctx, by, org, m, role)
}

// RemoveMember takes m out of org, on behalf of a member with role own
// (and user ID self): one may leave, or remove someone no higher than
// oneself; the last owner stays (storage.ErrLastOwner).
func (s *Service) RemoveMember(ctx context.Context, by Actor, org storage.Organization, own, self string, m storage.Membership) error {
	if !roles.MayGrant(own, m.Role) && m.UserID != self {
		return &RoleCeilingError{Role: m.Role}
	}
	return s.setMemberRole(ctx, by, org, m, "")
}

func (s *Service) setMemberRole(ctx context.Context, by Actor, org storage.Organization, m storage.Membership, role string) error {
	typ := EventMemberRoleChanged
	if role == "" {
		typ = EventMemberRemoved
	}
	err := s.Store.SetMemberRole(ctx, org.ID, m.UserID, role, by.Event(s.now(), typ,
		About{Subject: m.UserID, Org: org.ID, Details: map[string]string{"from": m.Role, "to": role}}))
	if err != nil {
		return fmt.Errorf("member role: %w", err)
	}
	return nil
}
