// Package roles is the organization authorization model: four roles, each
// a fixed set of named permissions. Tokens carry the permissions of the
// user's role in the organization of the login; the admin API checks them.
package roles

import "slices"

// Roles, from most to least privileged.
const (
	Owner  = "owner"
	Admin  = "admin"
	Member = "member"
	Viewer = "viewer"
)

// All lists the roles, most privileged first.
var All = []string{Owner, Admin, Member, Viewer}

// Permissions, grouped by what they govern.
const (
	OrgRead               = "org:read"
	OrgUpdate             = "org:update"
	OrgDelete             = "org:delete"
	MembersRead           = "members:read"
	MembersInvite         = "members:invite"
	MembersRemove         = "members:remove"
	RolesAssign           = "roles:assign"
	InvitationsManage     = "invitations:manage"
	DomainsManage         = "domains:manage"
	ConnectionsManage     = "connections:manage"
	MFAPolicyManage       = "mfa_policy:manage"
	ClientsRead           = "clients:read"
	ClientsManage         = "clients:manage"
	FeaturesRead          = "features:read"
	FeaturesManage        = "features:manage"
	TemplatesApply        = "templates:apply"
	WidgetsManage         = "widgets:manage"
	DashboardsPersonalize = "dashboards:personalize"
	UsageRead             = "usage:read"
	AuditRead             = "audit:read"
	BillingRead           = "billing:read"
	BillingManage         = "billing:manage"
	BidsRead              = "bids:read"
	BidsSubmit            = "bids:submit"
	MarketView            = "market:view"
	PortfolioManage       = "portfolio:manage"
	ReportsExport         = "reports:export"
	DataExport            = "data:export"
)

var (
	viewer = []string{OrgRead, MembersRead, FeaturesRead, DashboardsPersonalize, BidsRead, MarketView}
	member = append(slices.Clone(viewer), BidsSubmit, PortfolioManage, ReportsExport, UsageRead)
	admin  = append(slices.Clone(member), MembersInvite, MembersRemove, RolesAssign, InvitationsManage, DomainsManage,
		ConnectionsManage, MFAPolicyManage, ClientsRead, ClientsManage, FeaturesManage, TemplatesApply, WidgetsManage,
		AuditRead, BillingRead, OrgUpdate)
	owner = append(slices.Clone(admin), OrgDelete, BillingManage, DataExport)

	byRole = map[string][]string{Owner: owner, Admin: admin, Member: member, Viewer: viewer}
)

// Permissions returns the sorted permissions of role (nil for an unknown
// role).
func Permissions(role string) []string {
	p := slices.Clone(byRole[role])
	slices.Sort(p)
	return p
}

// Has reports whether role grants permission.
func Has(role, permission string) bool { return slices.Contains(byRole[role], permission) }

// Rank orders roles by privilege (0 for an unknown role).
func Rank(role string) int {
	if i := slices.Index(All, role); i >= 0 {
		return len(All) - i
	}
	return 0
}

// MayGrant reports whether a member with role own may give role to someone
// (a member, an invitation, a service account, an upstream IdP's ceiling):
// a known role no higher than their own.
func MayGrant(own, role string) bool { return Rank(role) > 0 && Rank(role) <= Rank(own) }
