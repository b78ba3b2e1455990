package manage

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/storage"
)

// EventType names a kind of audit row. The constants below are the whole
// vocabulary: the audit log, its filters and the account page's history
// all speak it, so a new kind of event is added here, never as a literal.
type EventType string

// The audit vocabulary, alphabetically.
const (
	EventAccountLocked             EventType = "account_locked"
	EventAccountLockLifted         EventType = "account_lock_lifted"
	EventAPIDeleted                EventType = "api_deleted"
	EventAPISaved                  EventType = "api_saved"
	EventBackupCodeUsed            EventType = "backup_code_used"
	EventBackupCodesGenerated      EventType = "backup_codes_generated"
	EventClientCreated             EventType = "client_created"
	EventClientDeleted             EventType = "client_deleted"
	EventClientSecretRotated       EventType = "client_secret_rotated"
	EventClientUpserted            EventType = "client_upserted"
	EventCodeRedeemed              EventType = "code_redeemed"
	EventCodeReplayed              EventType = "code_replayed"
	EventConnectionCreated         EventType = "connection_created"
	EventConnectionDeleted         EventType = "connection_deleted"
	EventConnectionUpserted        EventType = "connection_upserted"
	EventConsentDenied             EventType = "consent_denied"
	EventConsentGranted            EventType = "consent_granted"
	EventConsentRevoked            EventType = "consent_revoked"
	EventDataExported              EventType = "data_exported"
	EventDomainAdded               EventType = "domain_added"
	EventDomainVerified            EventType = "domain_verified"
	EventDomainRemoved             EventType = "domain_removed"
	EventBrandingChanged           EventType = "branding_changed"
	EventConnectionUpdated         EventType = "connection_updated"
	EventInvitationResent          EventType = "invitation_resent"
	EventEmailLinksRemoved         EventType = "email_links_removed"
	EventEmailPolicyChanged        EventType = "email_policy_changed"
	EventEmailVerificationSent     EventType = "email_verification_sent"
	EventEmailVerified             EventType = "email_verified"
	EventEnrollmentRefused         EventType = "enrollment_refused"
	EventFeatureDefined            EventType = "feature_defined"
	EventFeaturesChanged           EventType = "features_changed"
	EventFederatedLogin            EventType = "federated_login"
	EventFederationFailed          EventType = "federation_failed"
	EventIdentityLinked            EventType = "identity_linked"
	EventIdentityUnlinked          EventType = "identity_unlinked"
	EventEmailChangeRequested      EventType = "email_change_requested"
	EventEmailChanged              EventType = "email_changed"
	EventInvitationAccepted        EventType = "invitation_accepted"
	EventInvitationCreated         EventType = "invitation_created"
	EventInvitationRevoked         EventType = "invitation_revoked"
	EventJoinByDomainChanged       EventType = "join_by_domain_changed"
	EventLoginFailed               EventType = "login_failed"
	EventLoginRefused              EventType = "login_refused"
	EventLoginSucceeded            EventType = "login_succeeded"
	EventLogout                    EventType = "logout"
	EventMembershipAdded           EventType = "membership_added"
	EventMembershipUpserted        EventType = "membership_upserted"
	EventMemberRemoved             EventType = "member_removed"
	EventMemberRoleChanged         EventType = "member_role_changed"
	EventMFAFailed                 EventType = "mfa_failed"
	EventMFAPolicyChanged          EventType = "mfa_policy_changed"
	EventOrgSettingsChanged        EventType = "org_settings_changed"
	EventOrganizationCreated       EventType = "organization_created"
	EventOrganizationDeleted       EventType = "organization_deleted"
	EventOrganizationUpdated       EventType = "organization_updated"
	EventOrganizationUpserted      EventType = "organization_upserted"
	EventOTPSendFailed             EventType = "otp_send_failed"
	EventOTPSent                   EventType = "otp_sent"
	EventPasskeyCloneSuspected     EventType = "passkey_clone_suspected"
	EventPasskeyRegistered         EventType = "passkey_registered"
	EventPasskeyRemoved            EventType = "passkey_removed"
	EventPasskeyRenamed            EventType = "passkey_renamed"
	EventPasswordChanged           EventType = "password_changed"
	EventPasswordReset             EventType = "password_reset"
	EventPasswordResetRequested    EventType = "password_reset_requested"
	EventPhoneAdded                EventType = "phone_added"
	EventPhoneVerified             EventType = "phone_verified"
	EventPlanChanged               EventType = "plan_changed"
	EventPlatformAdminGranted      EventType = "platform_admin_granted"
	EventPlatformAdminWithdrawn    EventType = "platform_admin_withdrawn"
	EventProfileUpdated            EventType = "profile_updated"
	EventReauthFailed              EventType = "reauth_failed"
	EventRefreshTokenReuse         EventType = "refresh_token_reuse"
	EventRegistrationExistingEmail EventType = "registration_existing_email"
	EventRoleChanged               EventType = "role_changed"
	EventSessionEnded              EventType = "session_ended"
	EventSigningKeysCreated        EventType = "signing_keys_created"
	EventTemplateApplied           EventType = "template_applied"
	EventSigningKeysRotated        EventType = "signing_keys_rotated"
	EventTemplateDefined           EventType = "template_defined"
	EventTokenExchanged            EventType = "token_exchanged"
	EventTokenRefreshed            EventType = "token_refreshed"
	EventTokenRevoked              EventType = "token_revoked"
	EventTOTPEnrolled              EventType = "totp_enrolled"
	EventTOTPEnrollmentStarted     EventType = "totp_enrollment_started"
	EventTOTPRemoved               EventType = "totp_removed"
	EventUserCreated               EventType = "user_created"
	EventUserErased                EventType = "user_erased"
	EventUserProvisioned           EventType = "user_provisioned"
	EventUserRegistered            EventType = "user_registered"
	EventUserUpdated               EventType = "user_updated"
	EventWidgetDefined             EventType = "widget_defined"
)

// Actor is who did something: a user (perhaps through a client, or a
// client alone: a service account), the operator at the CLI, the config
// bootstrap, or an anonymous caller (UserID empty), with where the
// request came from.
type Actor struct {
	UserID string
	// Operator: a platform operator (a platform admin, or the CLI), who
	// may switch on features outside an organization's plan (audited as
	// an override) and set features' configuration.
	Operator  bool
	ClientID  string
	IP        string
	UserAgent string
	RequestID string
}

// The actors that are not people signed in to us.
var (
	// CLI is the operator at the command line.
	CLI = Actor{UserID: "cli", Operator: true}
	// Bootstrap is the config file, applied at start.
	Bootstrap = Actor{UserID: "bootstrap", Operator: true}
)

// ActorFrom is the actor of a request: its client IP and request ID (set
// by the edge middleware) and user agent.
func ActorFrom(r *http.Request, userID, clientID string) Actor {
	a := ActorCtx(r.Context(), userID, clientID)
	a.UserAgent = httpx.UserAgent(r)
	return a
}

// ActorCtx is the actor of the request ctx belongs to, without its user
// agent (for code that has no *http.Request).
func ActorCtx(ctx context.Context, userID, clientID string) Actor {
	return Actor{UserID: userID, ClientID: clientID, IP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx)}
}

// About says what an event concerns: the user it is about (when not the
// actor), the organization, and small, non-secret details.
type About struct {
	Subject string
	Org     string
	Details map[string]string
}

// Event is the one builder of audit rows: every row the application writes
// is made here, stamped at at (UTC).
func (a Actor) Event(at time.Time, typ EventType, about About) storage.AuditEvent {
	return storage.AuditEvent{Type: string(typ), Time: at.UTC(), ActorID: a.UserID, SubjectID: about.Subject,
		OrgID: about.Org, ClientID: a.ClientID, IP: a.IP, UserAgent: a.UserAgent, RequestID: a.RequestID, Details: about.Details}
}

// EventTypes lists the vocabulary (for filters and documentation).
func EventTypes() []EventType {
	out := slices.Clone(eventTypes)
	return out
}

var eventTypes = []EventType{
	EventAccountLocked,
	EventAccountLockLifted,
	EventAPIDeleted,
	EventAPISaved,
	EventBackupCodeUsed,
	EventBackupCodesGenerated,
	EventClientCreated,
	EventClientDeleted,
	EventClientSecretRotated,
	EventClientUpserted,
	EventCodeRedeemed,
	EventCodeReplayed,
	EventConnectionCreated,
	EventConnectionDeleted,
	EventConnectionUpserted,
	EventConsentDenied,
	EventConsentRevoked,
	EventConsentGranted,
	EventDataExported,
	EventDomainAdded,
	EventDomainVerified,
	EventDomainRemoved,
	EventBrandingChanged,
	EventConnectionUpdated,
	EventInvitationResent,
	EventEmailLinksRemoved,
	EventEmailPolicyChanged,
	EventEmailVerificationSent,
	EventEmailVerified,
	EventEnrollmentRefused,
	EventFeatureDefined,
	EventFeaturesChanged,
	EventFederatedLogin,
	EventFederationFailed,
	EventIdentityLinked,
	EventIdentityUnlinked,
	EventEmailChangeRequested,
	EventEmailChanged,
	EventInvitationAccepted,
	EventInvitationCreated,
	EventInvitationRevoked,
	EventJoinByDomainChanged,
	EventLoginFailed,
	EventLoginRefused,
	EventLoginSucceeded,
	EventLogout,
	EventMembershipAdded,
	EventMembershipUpserted,
	EventMemberRemoved,
	EventMemberRoleChanged,
	EventMFAFailed,
	EventMFAPolicyChanged,
	EventOrgSettingsChanged,
	EventOrganizationCreated,
	EventOrganizationDeleted,
	EventOrganizationUpdated,
	EventOrganizationUpserted,
	EventOTPSendFailed,
	EventOTPSent,
	EventPasskeyCloneSuspected,
	EventPasskeyRegistered,
	EventPasskeyRemoved,
	EventPasskeyRenamed,
	EventPasswordChanged,
	EventPasswordReset,
	EventPasswordResetRequested,
	EventPhoneAdded,
	EventPhoneVerified,
	EventPlanChanged,
	EventPlatformAdminGranted,
	EventPlatformAdminWithdrawn,
	EventProfileUpdated,
	EventReauthFailed,
	EventRefreshTokenReuse,
	EventRegistrationExistingEmail,
	EventRoleChanged,
	EventSessionEnded,
	EventSigningKeysCreated,
	EventSigningKeysRotated,
	EventTemplateApplied,
	EventTemplateDefined,
	EventTokenExchanged,
	EventTokenRefreshed,
	EventTokenRevoked,
	EventTOTPEnrolled,
	EventTOTPEnrollmentStarted,
	EventTOTPRemoved,
	EventUserCreated,
	EventUserErased,
	EventUserProvisioned,
	EventUserRegistered,
	EventUserUpdated,
	EventWidgetDefined,
}
