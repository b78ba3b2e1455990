// Package privacy turns stored data into the data-subject access export
// (GDPR article 15) and names erasures (article 17). The admin API and the
// CLI both use it, so a person gets the same document either way.
package privacy

import (
	"encoding/json"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

// Document is the export. Secrets (password hash, TOTP secret, token and
// session hashes, backup code hashes) are described, never copied: they
// identify nothing to the person and would weaken the account if the file
// leaked.
type Document struct {
	ExportedAt  time.Time      `json:"exported_at"`
	Account     Account        `json:"account"`
	Memberships []Membership   `json:"memberships"`
	Sessions    []Session      `json:"sessions"`
	Grants      []Grant        `json:"authorizations"`
	Identities  []Identity     `json:"linked_identities"`
	MFA         MFA            `json:"two_step_verification"`
	Dashboards  map[string]any `json:"dashboards,omitempty"`
	Usage       []Usage        `json:"feature_usage"`
	Events      []Event        `json:"security_events"`
	// Passkeys and Applications (connected applications, by consent) are
	// filled by the management layer, which reads them beside UserData.
	Passkeys     []Passkey         `json:"passkeys"`
	Applications []Application     `json:"connected_applications"`
	Notes        map[string]string `json:"notes"`
}

// Passkey is one of the person's passkeys, without its public key.
type Passkey struct {
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	Synced     bool      `json:"synced"`
}

// Application is a client the person let in, and what it may do.
type Application struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	Resources []string  `json:"resources,omitempty"`
	Since     time.Time `json:"since"`
}

// Passkeys lists passkeys for the export.
func Passkeys(ps []storage.Passkey) []Passkey {
	out := []Passkey{}
	for _, p := range ps {
		out = append(out, Passkey{Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt, Synced: p.BackupEligible})
	}
	return out
}

// Applications lists consents for the export.
func Applications(cs []storage.Consent) []Application {
	out := []Application{}
	for _, c := range cs {
		out = append(out, Application{ClientID: c.ClientID, Scopes: c.Scopes, Resources: c.Resources, Since: c.UpdatedAt})
	}
	return out
}

type Account struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name"`
	Phone         string    `json:"phone,omitempty"`
	PhoneVerified bool      `json:"phone_verified"`
	PasswordSet   bool      `json:"password_set"`
	Disabled      bool      `json:"disabled"`
	LockedUntil   time.Time `json:"locked_until,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

type Membership struct {
	OrgID    string    `json:"org_id"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

type Session struct {
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Methods    []string  `json:"methods"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

type Grant struct {
	ClientID  string    `json:"client_id"`
	OrgID     string    `json:"org_id,omitempty"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

type Identity struct {
	ConnectionID string    `json:"connection_id"`
	Issuer       string    `json:"issuer"`
	Subject      string    `json:"subject"`
	Email        string    `json:"email"`
	LinkedAt     time.Time `json:"linked_at"`
	LastLoginAt  time.Time `json:"last_login_at"`
}

type MFA struct {
	Authenticator        bool      `json:"authenticator_app"`
	AuthenticatorSince   time.Time `json:"authenticator_app_since,omitzero"`
	BackupCodesRemaining int       `json:"backup_codes_remaining"`
}

type Usage struct {
	OrgID   string `json:"org_id"`
	Feature string `json:"feature"`
	Day     string `json:"day"`
	Count   int64  `json:"count"`
}

type Event struct {
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	Role      string            `json:"your_role"` // actor, subject or both
	OrgID     string            `json:"org_id,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// Export builds the document for d at now.
func Export(d storage.UserData, now time.Time) Document {
	u := d.User
	doc := Document{
		ExportedAt: now.UTC(),
		Account: Account{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Phone: u.Phone,
			PhoneVerified: u.PhoneVerified, PasswordSet: u.PasswordHash != "", Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt},
		Memberships: []Membership{}, Sessions: []Session{}, Grants: []Grant{}, Identities: []Identity{}, Events: []Event{}, Usage: []Usage{},
		MFA: MFA{BackupCodesRemaining: d.BackupCodes},
		Notes: map[string]string{
			"secrets":   "Password, authenticator secret, backup codes and token values are stored only as hashes or sealed, and are not included.",
			"retention": "Sessions and authorizations are kept until they expire; security events are kept for the audit log's retention period and pseudonymized when the account is erased.",
		},
	}
	if u.Locked(now) {
		doc.Account.LockedUntil = u.LockedUntil
	}
	for _, m := range d.Memberships {
		doc.Memberships = append(doc.Memberships, Membership{m.OrgID, m.Role, m.CreatedAt})
	}
	for _, s := range d.Sessions {
		doc.Sessions = append(doc.Sessions, Session{s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RevokedAt, s.AMR, s.IP, s.UserAgent})
	}
	for _, g := range d.Grants {
		doc.Grants = append(doc.Grants, Grant{g.ClientID, g.OrgID, g.Scopes, g.CreatedAt, g.ExpiresAt, g.RevokedAt})
	}
	for _, fi := range d.Identities {
		doc.Identities = append(doc.Identities, Identity{fi.ConnectionID, fi.Issuer, fi.Subject, fi.Email, fi.CreatedAt, fi.LastLoginAt})
	}
	if t := d.TOTP; t != nil && !t.ConfirmedAt.IsZero() {
		doc.MFA.Authenticator, doc.MFA.AuthenticatorSince = true, t.ConfirmedAt
	}
	for org, layout := range d.Dashboards {
		var v any
		if json.Unmarshal(layout, &v) == nil {
			if doc.Dashboards == nil {
				doc.Dashboards = map[string]any{}
			}
			doc.Dashboards[org] = v
		}
	}
	for _, u := range d.Usage {
		doc.Usage = append(doc.Usage, Usage{u.OrgID, u.FeatureKey, u.Day.Format(time.DateOnly), u.Count})
	}
	for _, ev := range d.Audit {
		role := "subject"
		switch {
		case ev.ActorID == u.ID && ev.SubjectID == u.ID:
			role = "both"
		case ev.ActorID == u.ID:
			role = "actor"
		}
		ip, ua := ev.IP, ev.UserAgent
		if role == "subject" {
			// Someone else acted (an administrator): their address and
			// browser are theirs, not the subject's.
			ip, ua = "", ""
		}
		doc.Events = append(doc.Events, Event{ev.Time, ev.Type, role, ev.OrgID, ev.ClientID, ip, ua, ev.Details})
	}
	return doc
}

// Pseudonym is what an erased user's audit rows name instead of them: the
// same for all their rows (the sequence of events stays readable), linked
// to nothing.
func Pseudonym() string { return "erased-" + random.ID() }
