package manage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// Scopes asking for organization claims: "org", "org:<slug>" naming the
// organization, and "entitlements" (which are an organization's).
const (
	ScopeOrg          = "org"
	ScopeEntitlements = "entitlements"
)

// WantsOrg reports whether scopes ask for organization claims, and so
// whether a sign-in must settle on one organization.
func WantsOrg(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(s string) bool {
		return s == ScopeOrg || s == ScopeEntitlements || strings.HasPrefix(s, ScopeOrg+":")
	})
}

// MFA policies an organization may have; the default is optional.
const (
	MFAOff      = "off"
	MFAOptional = "optional"
	MFARequired = "required"
)

// MFAPolicies lists the policies, weakest first.
var MFAPolicies = []string{MFAOff, MFAOptional, MFARequired}

// slugPattern: the schema enforces the same (migrations).
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidSlug is the slug rule, for organizations and for the IDs the
// config declares: lower-case letters, digits and dashes, starting with a
// letter or digit, at most 63 characters (a DNS label, so a slug can name
// a subdomain).
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// SlugFor makes a valid slug from a display name (self-registration's
// company name): its letters and digits, dash-separated, at most 40 of
// them, then "-" and suffix (random, so two companies of one name differ).
// It never breaks ValidSlug for a suffix of lower-case hex.
func SlugFor(name, suffix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = "org"
	}
	return s + "-" + suffix
}

// OrgSpec is an organization as a front door asks for it.
type OrgSpec struct {
	Slug                 string
	Name                 string
	Plan                 string // "" for free
	MFA                  string // "" for optional
	RequireVerifiedEmail bool
}

// Check applies the organization rules and normalizes the name.
func (o *OrgSpec) Check() error {
	var es ValidationErrors
	o.Name = strings.TrimSpace(o.Name)
	if !ValidSlug(o.Slug) {
		es = append(es, &ValidationError{"slug", "must be lower-case letters, digits and dashes (at most 63)"})
	}
	es.Collect(CheckOrgName(o.Name))
	if o.Plan != "" && !slices.Contains(entitlements.Plans, o.Plan) {
		es = append(es, &ValidationError{"plan", "must be one of " + strings.Join(entitlements.Plans, ", ")})
	}
	es.Collect(CheckMFAPolicy(o.MFA, true))
	return es.Err()
}

// CheckOrgName is the rule for an organization's display name.
func CheckOrgName(name string) error {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return Invalid("name", "must be 1 to 200 characters")
	}
	return nil
}

// CheckMFAPolicy accepts one of MFAPolicies (and "" when optional).
func CheckMFAPolicy(p string, optional bool) error {
	if (p == "" && optional) || slices.Contains(MFAPolicies, p) {
		return nil
	}
	return Invalid("mfa", "must be one of "+strings.Join(MFAPolicies, ", "))
}

// CheckPlan accepts one of entitlements.Plans.
func CheckPlan(p string) error {
	if slices.Contains(entitlements.Plans, p) {
		return nil
	}
	return Invalid("plan", "must be one of "+strings.Join(entitlements.Plans, ", "))
}

// ErrUnknownOwner means the owner named for a new organization has no account.
var ErrUnknownOwner = errors.New("manage: the owner has no account")

// CreateOrganization creates the organization with ownerEmail's account as
// its owner, in one transaction with its audit row. Only platform
// operators create organizations for others (the caller checks who acts).
func (s *Service) CreateOrganization(ctx context.Context, by Actor, spec OrgSpec, ownerEmail string) (storage.Organization, error) {
	if err := spec.Check(); err != nil {
		return storage.Organization{}, err
	}
	owner, err := s.Store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(ownerEmail)))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Organization{}, ErrUnknownOwner
	}
	if err != nil {
		return storage.Organization{}, fmt.Errorf("owner: %w", err)
	}
	o, err := s.Store.CreateOrganization(ctx, storage.Organization{Slug: spec.Slug, Name: spec.Name, Plan: spec.Plan}, owner.ID,
		by.Event(s.now(), EventOrganizationCreated, About{Subject: owner.ID, Details: map[string]string{"slug": spec.Slug}}))
	if err != nil {
		return storage.Organization{}, fmt.Errorf("create organization: %w", err)
	}
	return o, nil
}
