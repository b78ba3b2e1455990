package manage

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/internal/i18n"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// DefaultInvitationTTL is how long an invitation stays usable unless
// Service.InvitationTTL says otherwise.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Mailer sends one plain-text email; org names the organization the mail
// is for (its send cap).
type Mailer interface {
	Send(ctx context.Context, to, subject, text, org string) error
}

// ErrNotSent means the change was made, but its email could not be sent (the
// admin can revoke and invite again).
var ErrNotSent = errors.New("manage: saved, but the email could not be sent")

// ErrEmailUnverified means the action needs a verified email address.
var ErrEmailUnverified = errors.New("manage: the email address is not verified")

// Invite invites email to org with invitedRole, on behalf of inviter (a
// member with role own, or a platform operator), with the mail in English
// (see InviteIn). The token goes only to the invited mailbox, never back
// to the inviter: only that mailbox can accept.
func (s *Service) Invite(ctx context.Context, by Actor, inviter storage.User, org storage.Organization, own, email, invitedRole string) (storage.Invitation, error) {
	return s.InviteIn(ctx, by, inviter, org, own, email, invitedRole, "")
}

// InviteIn is Invite with the invitee's language lang (one of
// i18n.Languages, "" for English): the mail is written in it, and so is
// every resend.
func (s *Service) InviteIn(ctx context.Context, by Actor, inviter storage.User, org storage.Organization, own, email, invitedRole, lang string) (storage.Invitation, error) {
	address, err := inviteeAddress(email)
	if err != nil {
		return storage.Invitation{}, err
	}
	if lang == "" {
		lang = i18n.Default
	}
	if err := CheckLanguage(lang); err != nil {
		return storage.Invitation{}, err
	}
	if invitedRole == "" {
		invitedRole = roles.Member
	}
	if !roles.MayGrant(own, invitedRole) {
		return storage.Invitation{}, &RoleCeilingError{Role: invitedRole}
	}
	now, ttl := s.now(), s.InvitationTTL
	if ttl <= 0 {
		ttl = DefaultInvitationTTL
	}
	token := random.Token(32)
	inv := storage.Invitation{ID: random.ID(), OrgID: org.ID, Email: address, Role: invitedRole, Language: lang,
		TokenHash: storage.HashSecret(token), InvitedBy: inviter.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.Store.CreateInvitation(ctx, inv, by.Event(now, EventInvitationCreated,
		About{Org: org.ID, Details: map[string]string{"invitation": inv.ID, "role": inv.Role, "language": lang}})); err != nil {
		return storage.Invitation{}, fmt.Errorf("invitation: %w", err)
	}
	if s.Mailer != nil {
		subject, text, err := s.invitationMail(inv, org, inviter.Name, token)
		if err == nil {
			err = s.Mailer.Send(ctx, inv.Email, subject, text, org.Slug)
		}
		if err != nil {
			return inv, fmt.Errorf("%w: %w", ErrNotSent, err)
		}
	}
	return inv, nil
}

// CheckLanguage is the rule for a language someone is written to in: the
// tag of one of i18n.Languages.
func CheckLanguage(lang string) error {
	if !i18n.Supported(lang) {
		return Invalid("language", "must be one of "+strings.Join(i18n.Tags(), ", "))
	}
	return nil
}

// inviteeAddress is the invitation address rule: a plain address (no
// display name), lower-cased.
func inviteeAddress(email string) (string, error) {
	addr, err := mail.ParseAddress(strings.TrimSpace(email))
	if err != nil || addr.Name != "" || len(addr.Address) > 254 {
		return "", Invalid("email", "must be a plain email address")
	}
	return strings.ToLower(addr.Address), nil
}

// The invitation mail and its parts, in the catalogue's words (the
// English text is the message ID); TestMailsTranslated keeps every
// language complete.
var (
	mailInvitation = i18n.Mail{Subject: "Join {{.Org}} on {{.Product}}",
		Body: "{{.Inviter}} invited you to join {{.Org}} on {{.Product}} as {{.Role}}.\n\n{{.How}}\n\nThe invitation can be used once, by {{.Email}}, until {{.Until}} UTC.\nIf you did not expect it, ignore this email.\n"}
	invitationByLink = "Accept it here:\n\n  {{.Link}}"
	invitationByCode = "Sign in to {{.Product}} and enter this invitation code:\n\n  {{.Code}}"
	anAdministrator  = "An administrator"
)

// invitationMail is the invitation's text in its language: a link to the
// accept page when one is configured, else the code.
func (s *Service) invitationMail(inv storage.Invitation, org storage.Organization, inviterName, token string) (subject, text string, err error) {
	tr := s.Translator
	if tr == nil {
		if tr, err = i18n.New(); err != nil {
			return "", "", err
		}
	}
	lang := inv.Language
	if !i18n.Supported(lang) {
		lang = i18n.Default
	}
	product := s.ProductName
	if product == "" {
		product = "OptiBid"
	}
	// The role is named in the mail's language too (the catalogue has
	// every one of roles.All).
	data := map[string]any{"Product": product, "Org": org.Name, "Role": tr.T(lang, inv.Role), "Email": inv.Email,
		"Until": i18n.Date(lang, inv.ExpiresAt, true), "Code": token}
	how := tr.T(lang, invitationByCode, data)
	if s.InvitationURL != "" {
		u, err := url.Parse(s.InvitationURL)
		if err != nil {
			return "", "", fmt.Errorf("invitation url: %w", err)
		}
		q := u.Query()
		q.Set("token", token)
		q.Set("organization", org.Slug)
		u.RawQuery = q.Encode()
		data["Link"] = u.String()
		how = tr.T(lang, invitationByLink, data)
	}
	if inviterName == "" {
		inviterName = tr.T(lang, anAdministrator)
	}
	data["Inviter"], data["How"] = inviterName, how
	subject, text = tr.Compose(lang, mailInvitation, data)
	return subject, text, nil
}

// InvitationStatus is pending, accepted, revoked or expired.
func InvitationStatus(i storage.Invitation, now time.Time) string {
	switch {
	case !i.AcceptedAt.IsZero():
		return "accepted"
	case !i.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(i.ExpiresAt):
		return "expired"
	}
	return "pending"
}

// RevokeInvitation withdraws org's invitation id.
func (s *Service) RevokeInvitation(ctx context.Context, by Actor, org storage.Organization, id string) error {
	err := s.Store.RevokeInvitation(ctx, org.ID, id, s.now(), by.Event(s.now(), EventInvitationRevoked,
		About{Org: org.ID, Details: map[string]string{"invitation": id}}))
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	return nil
}

// ResendInvitation replaces org's pending invitation id with a new one to
// the same address and role, mailed again in the same language: the old
// link stops working.
// The resender (role own) must be able to grant the role themselves.
func (s *Service) ResendInvitation(ctx context.Context, by Actor, inviter storage.User, org storage.Organization, own, id string) (storage.Invitation, error) {
	list, err := s.Store.InvitationsOf(ctx, org.ID)
	if err != nil {
		return storage.Invitation{}, fmt.Errorf("invitations: %w", err)
	}
	i := slices.IndexFunc(list, func(inv storage.Invitation) bool { return inv.ID == id && inv.Pending(s.now()) })
	if i < 0 {
		return storage.Invitation{}, storage.ErrNotFound
	}
	old := list[i]
	if !roles.MayGrant(own, old.Role) {
		return storage.Invitation{}, &RoleCeilingError{Role: old.Role}
	}
	if err := s.Store.RevokeInvitation(ctx, org.ID, id, s.now(), by.Event(s.now(), EventInvitationResent,
		About{Org: org.ID, Details: map[string]string{"invitation": id}})); err != nil {
		return storage.Invitation{}, fmt.Errorf("resend invitation: %w", err)
	}
	return s.InviteIn(ctx, by, inviter, org, own, old.Email, old.Role, old.Language)
}

// InvitationByToken finds the invitation a link carries, in any state
// (storage.ErrNotFound for none), so a page can say why it is unusable.
func (s *Service) InvitationByToken(ctx context.Context, token string) (storage.Invitation, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 100 {
		return storage.Invitation{}, storage.ErrNotFound
	}
	inv, err := s.Store.InvitationByTokenHash(ctx, storage.HashSecret(token))
	if err != nil {
		return storage.Invitation{}, fmt.Errorf("invitation: %w", err)
	}
	return inv, nil
}

// AcceptInvitation joins u to the inviting organization. u's email must be
// the invited one and verified (an unverified address proves nothing
// about the mailbox the token went to), and the inviter must still be able
// to grant the role: an invitation carries no more authority than its
// inviter has now. Errors: ErrEmailUnverified, and the store's
// ErrNotFound/ErrAlreadyUsed/ErrExpired (unusable), ErrMismatch (another
// address), ErrRevoked (the inviter lost the right), ErrConflict (already a
// member).
func (s *Service) AcceptInvitation(ctx context.Context, by Actor, u storage.User, token string) (storage.Invitation, error) {
	if !u.EmailVerified {
		return storage.Invitation{}, ErrEmailUnverified
	}
	inviterMay := func(inviterRole, invitedRole string, platformAdmin bool) bool {
		return platformAdmin || roles.MayGrant(inviterRole, invitedRole)
	}
	inv, err := s.Store.AcceptInvitation(ctx, storage.HashSecret(strings.TrimSpace(token)), u, s.now(), inviterMay,
		by.Event(s.now(), EventInvitationAccepted, About{Subject: u.ID}))
	if err != nil {
		return storage.Invitation{}, fmt.Errorf("accept invitation: %w", err)
	}
	return inv, nil
}
