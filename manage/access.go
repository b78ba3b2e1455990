package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// Caller is who asks to act in an organization: a person (UserID, and
// PlatformAdmin when they are a platform operator) or a service account
// (Service), which is a member of its own organization only.
type Caller struct {
	UserID        string
	PlatformAdmin bool
	Service       *storage.Client
}

// ForbiddenError means the caller may see the organization but their role
// lacks Permission.
type ForbiddenError struct{ Permission string }

func (e *ForbiddenError) Error() string { return "manage: the role does not allow " + e.Permission }

// Access is a caller's standing in one organization.
type Access struct {
	Org storage.Organization
	// Role is the caller's role; platform operators who are not members
	// act as an owner would (Member false).
	Role   string
	Member bool
}

// May reports whether the role allows permission.
func (a Access) May(permission string) bool { return roles.Has(a.Role, permission) }

// EnterOrg resolves ref (an organization's ID, or its slug) for c and
// checks permission ("" for none). An organization c does not belong to
// is storage.ErrNotFound exactly as one that does not exist, so tenant
// IDs and slugs cannot be probed; a member without the permission gets
// *ForbiddenError. Every front door (management API, console) enters an
// organization through here.
func (s *Service) EnterOrg(ctx context.Context, c Caller, ref, permission string) (Access, error) {
	org, err := s.orgByRef(ctx, ref)
	if err != nil {
		return Access{}, err
	}
	var ms []storage.Membership
	if c.Service != nil {
		ms = []storage.Membership{{OrgID: c.Service.OrgID, Role: c.Service.ServiceRole}}
	} else if ms, err = s.Store.MembershipsByUser(ctx, c.UserID); err != nil {
		return Access{}, fmt.Errorf("memberships: %w", err)
	}
	a := Access{Org: org}
	if i := slices.IndexFunc(ms, func(m storage.Membership) bool { return m.OrgID == org.ID }); i >= 0 {
		a.Role, a.Member = ms[i].Role, true
	} else if c.Service == nil && c.PlatformAdmin {
		a.Role = roles.Owner
	} else {
		return Access{}, storage.ErrNotFound
	}
	if permission != "" && !a.May(permission) {
		return a, &ForbiddenError{Permission: permission}
	}
	return a, nil
}

// orgByRef finds an organization by ID first, then by slug. A new slug
// cannot have an ID's form (OrgSpec.Check), so one reference names one
// organization.
func (s *Service) orgByRef(ctx context.Context, ref string) (storage.Organization, error) {
	if ref == "" || len(ref) > 64 {
		return storage.Organization{}, storage.ErrNotFound
	}
	o, err := s.Store.OrganizationByID(ctx, ref)
	if errors.Is(err, storage.ErrNotFound) && ValidSlug(ref) {
		o, err = s.Store.OrganizationBySlug(ctx, ref)
	}
	if err != nil {
		return storage.Organization{}, fmt.Errorf("organization: %w", err)
	}
	return o, nil
}
