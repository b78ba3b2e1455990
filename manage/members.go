package manage

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

// AddMember gives the user a role in org as the operator (the CLI): a new
// membership, or a role change under the same rules as any other (the
// last owner stays).
func (s *Service) AddMember(ctx context.Context, by Actor, org storage.Organization, userID, role string) error {
	if !by.Operator {
		return ErrOperatorOnly
	}
	if !slices.Contains(roles.All, role) {
		return Invalid("role", "must be one of "+strings.Join(roles.All, ", "))
	}
	ms, err := s.Store.MembershipsByUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("memberships: %w", err)
	}
	if i := slices.IndexFunc(ms, func(m storage.Membership) bool { return m.OrgID == org.ID }); i >= 0 {
		if ms[i].Role == role {
			return nil
		}
		return s.setMemberRole(ctx, by, org, ms[i], role)
	}
	err = s.Store.UpsertMembership(ctx, storage.Membership{UserID: userID, OrgID: org.ID, Role: role},
		by.Event(s.now(), EventMembershipAdded, About{Subject: userID, Org: org.ID, Details: map[string]string{"role": role}}))
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}
