package manage

import (
	"context"
	"time"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// Store is what the management layer reads and writes.
type Store interface {
	UserByEmail(ctx context.Context, email string) (storage.User, error)
	CreateOrganization(ctx context.Context, o storage.Organization, ownerID string, ev storage.AuditEvent) (storage.Organization, error)
	ListAPIs(ctx context.Context) ([]storage.API, error)
	UpsertClient(ctx context.Context, c storage.Client, ev storage.AuditEvent) (storage.Client, error)
	ListFeatures(ctx context.Context) ([]storage.FeatureDefinition, error)
	OrgFeatureSettings(ctx context.Context, orgID string) (map[string]storage.FeatureSetting, error)
	TemplateByID(ctx context.Context, id string) (storage.FeatureTemplate, error)
	DomainsOf(ctx context.Context, orgID string) ([]storage.OrganizationDomain, error)
	AddDomain(ctx context.Context, d storage.OrganizationDomain, ev storage.AuditEvent) error
	RemoveDomain(ctx context.Context, orgID, domain string, ev storage.AuditEvent) error
	InvitationsOf(ctx context.Context, orgID string) ([]storage.Invitation, error)
	InvitationByTokenHash(ctx context.Context, tokenHash string) (storage.Invitation, error)
	UpsertAPI(ctx context.Context, a storage.API, ev storage.AuditEvent) (storage.API, error)
	DeleteAPI(ctx context.Context, identifier, orgID string, ev storage.AuditEvent) error
	ListClients(ctx context.Context) ([]storage.Client, error)
	UserData(ctx context.Context, userID string) (storage.UserData, error)
	PasskeysByUser(ctx context.Context, userID string) ([]storage.Passkey, error)
	ConsentsOf(ctx context.Context, userID string) ([]storage.Consent, error)
	AppendAudit(ctx context.Context, ev storage.AuditEvent) error
	VerifyAudit(ctx context.Context, against []storage.AuditHead) (storage.AuditReport, error)
	EraseUser(ctx context.Context, userID, pseudonym string, ev storage.AuditEvent) error
	SetPlatformAdmin(ctx context.Context, userID string, admin bool, ev storage.AuditEvent) error
	UpsertConnection(ctx context.Context, c storage.Connection, ev storage.AuditEvent) error
	ConnectionByID(ctx context.Context, id string) (storage.Connection, error)
	CreateInvitation(ctx context.Context, inv storage.Invitation, ev storage.AuditEvent) error
	RevokeInvitation(ctx context.Context, orgID, id string, now time.Time, ev storage.AuditEvent) error
	AcceptInvitation(ctx context.Context, tokenHash string, u storage.User, now time.Time,
		inviterMay func(inviterRole, invitedRole string, platformAdmin bool) bool, ev storage.AuditEvent) (storage.Invitation, error)
	SetMemberRole(ctx context.Context, orgID, userID, role string, ev storage.AuditEvent) error
	ClientByID(ctx context.Context, id string) (storage.Client, error)
	OrganizationBySlug(ctx context.Context, slug string) (storage.Organization, error)
	OrganizationByID(ctx context.Context, id string) (storage.Organization, error)
	UpsertOrganization(ctx context.Context, o storage.Organization, ev storage.AuditEvent) (storage.Organization, error)
	SetPlan(ctx context.Context, orgID, plan string, ev storage.AuditEvent) error
	SetMFAPolicy(ctx context.Context, orgID, policy string, ev storage.AuditEvent) error
	SetEmailPolicy(ctx context.Context, orgID string, required bool, ev storage.AuditEvent) error
	SetJoinByDomain(ctx context.Context, orgID string, on bool, ev storage.AuditEvent) error
	SetOrgSettings(ctx context.Context, orgID string, settings []byte, ev storage.AuditEvent) error
	SetBranding(ctx context.Context, orgID string, b storage.Branding, ev storage.AuditEvent) error
	MembershipsByUser(ctx context.Context, userID string) ([]storage.Membership, error)
	UpsertMembership(ctx context.Context, m storage.Membership, ev storage.AuditEvent) error
	CreateUser(ctx context.Context, u storage.User, ev storage.AuditEvent) (storage.User, error)
	UpdateProfile(ctx context.Context, userID, name string, emailVerified bool, ev storage.AuditEvent) error
	SetPassword(ctx context.Context, userID, hash string, at time.Time, ev storage.AuditEvent) error
	ListTemplates(ctx context.Context) ([]storage.FeatureTemplate, error)
	ApplyFeatureSettings(ctx context.Context, orgID string, settings map[string]storage.FeatureSetting, actorID, templateID string,
		at time.Time, ev storage.AuditEvent) error
}

// Service applies the rules over a store. The zero Now is time.Now.
type Service struct {
	Store Store
	Now   func() time.Time
	// Catalogue is the feature catalogue the provider holds in memory; nil
	// reads it from the store on each use (the CLI).
	Catalogue func() entitlements.Catalogue
	// ManagementAPI is the management API's identifier (<issuer>/api),
	// which no other API may take.
	ManagementAPI string
	// Connectors checks and seals upstream identity-provider settings.
	Connectors Connectors
	// Mailer sends invitations (nil: they are stored, not sent);
	// ProductName and InvitationURL (the application's accept page, or ""
	// for a code to enter) go into the mail.
	Mailer        Mailer
	ProductName   string
	InvitationURL string
	// Translator writes the mails in their languages (nil: the embedded
	// catalogue, loaded for each mail).
	Translator *i18n.Translator
	// InvitationTTL: DefaultInvitationTTL when zero.
	InvitationTTL time.Duration
	// Resolver looks up the DNS TXT records that prove a domain;
	// DomainKey keys the values they must hold (32 bytes).
	Resolver  Resolver
	DomainKey []byte
	// NoPasskeys: this deployment cannot have passkeys (its issuer's host
	// is an IP address), so no organization may require one.
	NoPasskeys bool
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}
