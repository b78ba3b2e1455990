package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/manage/roles"
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
	// MFAPasskey: members must sign in with a passkey (phishing-resistant,
	// acr urn:optibid:acr:phr); codes alone no longer finish a sign-in,
	// and a member without a passkey adds one during the sign-in.
	MFAPasskey = "passkey"
)

// MFAPolicies lists the policies, weakest first.
var MFAPolicies = []string{MFAOff, MFAOptional, MFARequired, MFAPasskey}

// slugPattern: the schema enforces the same (migrations).
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidSlug is the slug rule, for organizations and for the IDs the
// config declares: lower-case letters, digits and dashes, starting with a
// letter or digit, at most 63 characters (a DNS label, so a slug can name
// a subdomain).
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// idForm is the form of the IDs organizations get (random.ID).
var idForm = regexp.MustCompile(`^[0-9a-f]{32}$`)

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
	switch {
	case !ValidSlug(o.Slug):
		es = append(es, &ValidationError{"slug", "must be lower-case letters, digits and dashes (at most 63)"})
	case idForm.MatchString(o.Slug):
		// Organizations are addressed by ID or slug: a slug in an ID's
		// form could shadow, or be shadowed by, another organization.
		es = append(es, &ValidationError{"slug", "must not be 32 hex digits (the form of an organization ID)"})
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

// CheckPasskeyPolicy refuses the passkey policy where passkeys cannot
// work (noPasskeys): every member, its admins included, would be locked
// out.
func CheckPasskeyPolicy(p string, noPasskeys bool) error {
	if p == MFAPasskey && noPasskeys {
		return Invalid("mfa", "cannot be passkey here: this deployment has no passkeys (its issuer's host is an IP address), so no member could sign in")
	}
	return nil
}

// CheckPlan accepts one of entitlements.Plans.
func CheckPlan(p string) error {
	if slices.Contains(entitlements.Plans, p) {
		return nil
	}
	return Invalid("plan", "must be one of "+strings.Join(entitlements.Plans, ", "))
}

// ErrUnknownOwner means the owner named for a new organization has no
// account; ErrOwnerUnverified that the account has not proved its address
// (or is disabled): neither is made an owner outright.
var (
	ErrUnknownOwner    = errors.New("manage: the owner has no account")
	ErrOwnerUnverified = errors.New("manage: the owner's email address is not verified")
)

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
	if !owner.EmailVerified || owner.Disabled {
		// Anyone can register any address: only a proved mailbox owns.
		return storage.Organization{}, ErrOwnerUnverified
	}
	o, err := s.Store.CreateOrganization(ctx, storage.Organization{Slug: spec.Slug, Name: spec.Name, Plan: spec.Plan}, owner.ID,
		by.Event(s.now(), EventOrganizationCreated, About{Subject: owner.ID, Details: map[string]string{"slug": spec.Slug}}))
	if err != nil {
		return storage.Organization{}, fmt.Errorf("create organization: %w", err)
	}
	return o, nil
}

// CreateOrganizationInviting is CreateOrganization for an owner who may
// have no account yet, or one whose address is unproved: then the
// organization is created without members and ownerEmail is invited as
// its owner (the invitation is returned; accepting needs the verified
// address).
// Nobody becomes an owner without proving the mailbox. An invitation
// whose mail failed is returned with ErrNotSent: it can be resent. The
// invitation is written in lang (as InviteIn).
func (s *Service) CreateOrganizationInviting(ctx context.Context, by Actor, operator storage.User, spec OrgSpec, ownerEmail, lang string) (storage.Organization, *storage.Invitation, error) {
	if lang != "" {
		if err := CheckLanguage(lang); err != nil {
			return storage.Organization{}, nil, err
		}
	}
	o, err := s.CreateOrganization(ctx, by, spec, ownerEmail)
	if !errors.Is(err, ErrUnknownOwner) && !errors.Is(err, ErrOwnerUnverified) {
		return o, nil, err
	}
	if _, err := inviteeAddress(ownerEmail); err != nil {
		return storage.Organization{}, nil, Invalid("owner_email", "must be a plain email address")
	}
	o, err = s.Store.CreateOrganization(ctx, storage.Organization{Slug: spec.Slug, Name: spec.Name, Plan: spec.Plan}, "",
		by.Event(s.now(), EventOrganizationCreated, About{Details: map[string]string{"slug": spec.Slug, "owner": "invited"}}))
	if err != nil {
		return storage.Organization{}, nil, fmt.Errorf("create organization: %w", err)
	}
	inv, err := s.InviteIn(ctx, by, operator, o, roles.Owner, ownerEmail, roles.Owner, lang)
	if err != nil && !errors.Is(err, ErrNotSent) {
		return o, nil, err
	}
	return o, &inv, err
}

// OrgChange is a partial change of an organization: nil fields stay as
// they are.
type OrgChange struct {
	Name, Plan, MFA      *string
	RequireVerifiedEmail *bool
	JoinByDomain         *bool
	Settings             json.RawMessage
	// Branding replaces the whole branding (a zero one removes it).
	Branding *storage.Branding
}

// maxSettings bounds an organization's free-form settings object.
const maxSettings = 16 << 10

// Check applies the rules to the fields the change sets. The plan decides
// paid features, so only an operator changes it (ErrOperatorOnly).
func (ch OrgChange) Check(operator bool) error {
	var es ValidationErrors
	if ch.Name != nil {
		es.Collect(CheckOrgName(*ch.Name))
	}
	if ch.Plan != nil {
		es.Collect(CheckPlan(*ch.Plan))
	}
	if ch.MFA != nil {
		es.Collect(CheckMFAPolicy(*ch.MFA, false))
	}
	if ch.Settings != nil {
		var v map[string]any
		if len(ch.Settings) > maxSettings || json.Unmarshal(ch.Settings, &v) != nil || v == nil {
			es = append(es, &ValidationError{"settings", "must be a JSON object of at most 16 KiB"})
		}
	}
	if ch.Branding != nil {
		es.Collect(CheckBranding(ch.Branding))
	}
	if err := es.Err(); err != nil {
		return err
	}
	if ch.Plan != nil && !operator {
		return ErrOperatorOnly
	}
	return nil
}

// UpdateOrganization applies ch to o, each changed field with its audit
// row, after checking every field first, so a change is applied whole or
// not at all (short of a store failure).
func (s *Service) UpdateOrganization(ctx context.Context, by Actor, o storage.Organization, ch OrgChange) (storage.Organization, error) {
	if err := ch.Check(by.Operator); err != nil {
		return o, err
	}
	if ch.MFA != nil {
		if err := CheckPasskeyPolicy(*ch.MFA, s.NoPasskeys); err != nil {
			return o, err
		}
	}
	ev := func(typ EventType, details map[string]string) storage.AuditEvent {
		return by.Event(s.now(), typ, About{Org: o.ID, Details: details})
	}
	var err error
	if ch.Name != nil && strings.TrimSpace(*ch.Name) != o.Name {
		o, err = s.Store.UpsertOrganization(ctx, storage.Organization{Slug: o.Slug, Name: strings.TrimSpace(*ch.Name)}, ev(EventOrganizationUpdated, nil))
	}
	if err == nil && ch.Plan != nil && *ch.Plan != o.Plan {
		err = s.Store.SetPlan(ctx, o.ID, *ch.Plan, ev(EventPlanChanged, map[string]string{"plan": *ch.Plan}))
		o.Plan = *ch.Plan
	}
	if err == nil && ch.MFA != nil && *ch.MFA != o.MFAPolicy {
		err = s.Store.SetMFAPolicy(ctx, o.ID, *ch.MFA, ev(EventMFAPolicyChanged, map[string]string{"mfa": *ch.MFA}))
		o.MFAPolicy = *ch.MFA
	}
	if err == nil && ch.RequireVerifiedEmail != nil && *ch.RequireVerifiedEmail != o.RequireVerifiedEmail {
		err = s.Store.SetEmailPolicy(ctx, o.ID, *ch.RequireVerifiedEmail, ev(EventEmailPolicyChanged, nil))
		o.RequireVerifiedEmail = *ch.RequireVerifiedEmail
	}
	if err == nil && ch.JoinByDomain != nil && *ch.JoinByDomain != o.JoinByDomain {
		err = s.Store.SetJoinByDomain(ctx, o.ID, *ch.JoinByDomain, ev(EventJoinByDomainChanged,
			map[string]string{"on": strconv.FormatBool(*ch.JoinByDomain)}))
		o.JoinByDomain = *ch.JoinByDomain
	}
	if err == nil && ch.Settings != nil {
		err = s.Store.SetOrgSettings(ctx, o.ID, ch.Settings, ev(EventOrgSettingsChanged, nil))
		o.Settings = ch.Settings
	}
	if err == nil && ch.Branding != nil && *ch.Branding != o.Branding {
		err = s.Store.SetBranding(ctx, o.ID, *ch.Branding, ev(EventBrandingChanged, nil))
		o.Branding = *ch.Branding
	}
	if err != nil {
		return o, fmt.Errorf("update organization: %w", err)
	}
	return o, nil
}

// CreatePlatformOrganization is the operator's create without an owner
// (the CLI; an owner is added next): the organization rules, an existing
// slug refused (storage.ErrConflict), the policies the spec sets.
func (s *Service) CreatePlatformOrganization(ctx context.Context, by Actor, spec OrgSpec) (storage.Organization, error) {
	if !by.Operator {
		return storage.Organization{}, ErrOperatorOnly
	}
	if err := spec.Check(); err != nil {
		return storage.Organization{}, err
	}
	if _, err := s.Store.OrganizationBySlug(ctx, spec.Slug); err == nil {
		return storage.Organization{}, fmt.Errorf("organization %s: %w", spec.Slug, storage.ErrConflict)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Organization{}, fmt.Errorf("organization: %w", err)
	}
	o, err := s.Store.UpsertOrganization(ctx, storage.Organization{Slug: spec.Slug, Name: spec.Name},
		by.Event(s.now(), EventOrganizationCreated, About{Details: map[string]string{"slug": spec.Slug}}))
	if err != nil {
		return o, fmt.Errorf("create organization: %w", err)
	}
	ch := OrgChange{RequireVerifiedEmail: &spec.RequireVerifiedEmail}
	if spec.MFA != "" {
		ch.MFA = &spec.MFA
	}
	if spec.Plan != "" {
		ch.Plan = &spec.Plan
	}
	return s.UpdateOrganization(ctx, by, o, ch)
}

// Organization finds an organization by its slug.
func (s *Service) Organization(ctx context.Context, slug string) (storage.Organization, error) {
	o, err := s.Store.OrganizationBySlug(ctx, slug)
	if err != nil {
		return o, fmt.Errorf("organization %q: %w", slug, err)
	}
	return o, nil
}
