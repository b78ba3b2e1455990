package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func testFederation(t *testing.T, s storage.Store) {
	org, _ := s.UpsertOrganization(ctx, storage.Organization{Slug: "fed", Name: "Fed"}, storage.AuditEvent{})
	c := storage.Connection{ID: "acme-okta", Type: "okta", Name: "Acme Okta", OrgID: org.ID, Config: []byte(`{"domain":"acme.okta.com"}`),
		SecretSealed: []byte("sealed"), Enabled: true, LinkByEmail: true, DefaultRole: "member", RoleMapping: map[string]string{"idp-admins": "admin"},
		AllowEmailLinking: true, TrustUpstreamMFA: true, MaxRole: "admin"}
	must(t, s.UpsertConnection(ctx, c, ev("connection_upserted")))
	must(t, s.UpsertConnection(ctx, storage.Connection{ID: "google", Type: "google", Name: "Google", Enabled: true, DefaultRole: "member"}, storage.AuditEvent{}))
	got, err := s.ConnectionByID(ctx, "acme-okta")
	must(t, err)
	if got.OrgID != org.ID || string(got.SecretSealed) != "sealed" || got.RoleMapping["idp-admins"] != "admin" || !got.LinkByEmail ||
		!got.AllowEmailLinking || !got.TrustUpstreamMFA || got.MaxRole != "admin" ||
		string(got.Config) != `{"domain": "acme.okta.com"}` && string(got.Config) != `{"domain":"acme.okta.com"}` {
		t.Fatalf("connection: %+v", got)
	}
	all, _ := s.ListConnections(ctx)
	if len(all) != 2 || all[1].OrgID != "" {
		t.Fatalf("list: %+v", all)
	}
	if _, err := s.ConnectionByID(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}

	at := now()
	st := storage.FederationState{StateHash: storage.HashSecret(random.ID()), ConnectionID: "acme-okta", AuthRequestID: "ar", Nonce: "n",
		CodeVerifier: "v", BrowserHash: "b", CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
	must(t, s.CreateFederationState(ctx, st))
	race(t, func(int) error { _, err := s.ConsumeFederationState(ctx, st.StateHash, at); return err })
	expired := st
	expired.StateHash = storage.HashSecret(random.ID())
	expired.ExpiresAt = at.Add(-time.Second)
	must(t, s.CreateFederationState(ctx, expired))
	if _, err := s.ConsumeFederationState(ctx, expired.StateHash, at); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired state: %v", err)
	}
	if _, err := s.ConsumeFederationState(ctx, "nope", at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown state: %v", err)
	}

	fi := storage.FederatedIdentity{ConnectionID: "acme-okta", Issuer: "https://acme.okta.com", Subject: "00u1", Email: "jit@acme.example"}
	u, err := s.ProvisionFederatedUser(ctx, storage.User{Email: "JIT@acme.example", Name: "Jit", EmailVerified: true},
		&storage.Membership{OrgID: org.ID, Role: "admin"}, fi, ev("user_provisioned"))
	must(t, err)
	if u.ID == "" || u.Email != "jit@acme.example" || u.PasswordHash != "" {
		t.Fatalf("provisioned user: %+v", u)
	}
	link, err := s.IdentityByUpstream(ctx, "acme-okta", "https://acme.okta.com", "00u1")
	must(t, err)
	if link.UserID != u.ID {
		t.Fatalf("link %+v", link)
	}
	if ms, _ := s.MembershipsByUser(ctx, u.ID); len(ms) != 1 || ms[0].Role != "admin" {
		t.Fatalf("membership %+v", ms)
	}
	// A second provisioning of the same upstream identity, or of a taken
	// email, changes nothing.
	fi2 := fi
	fi2.Subject = "00u2"
	if _, err := s.ProvisionFederatedUser(ctx, storage.User{Email: "jit@acme.example"}, nil, fi2, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken email: %v", err)
	}
	if _, err := s.IdentityByUpstream(ctx, "acme-okta", "https://acme.okta.com", "00u2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("failed provisioning left a link behind")
	}
	if _, err := s.ProvisionFederatedUser(ctx, storage.User{Email: "other@acme.example"}, nil, fi, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("linked identity provisioned twice: %v", err)
	}
	if _, err := s.UserByEmail(ctx, "other@acme.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("failed provisioning left a user behind")
	}
	existing := newUser(t, s)
	fi2.UserID = existing.ID
	must(t, s.LinkIdentity(ctx, fi2, ev("identity_linked")))
	if err := s.LinkIdentity(ctx, fi2, storage.AuditEvent{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("double link: %v", err)
	}
	fi2.Email = "new@acme.example"
	must(t, s.TouchIdentity(ctx, fi2, at))
	if got, _ := s.IdentityByUpstream(ctx, "acme-okta", "https://acme.okta.com", "00u2"); got.Email != "new@acme.example" || got.UserID != existing.ID {
		t.Fatalf("touch: %+v", got)
	}
	if n := auditCount(t, s, "user_provisioned"); n != 1 {
		t.Fatalf("user_provisioned rows %d", n)
	}
	// Deleting the connection unlinks its identities; the accounts stay.
	must(t, s.DeleteConnection(ctx, "acme-okta", ev("connection_deleted")))
	if _, err := s.IdentityByUpstream(ctx, "acme-okta", "https://acme.okta.com", "00u2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("identity after its connection went: %v", err)
	}
	if _, err := s.UserByID(ctx, existing.ID); err != nil {
		t.Fatalf("account went with the connection: %v", err)
	}
	if err := s.DeleteConnection(ctx, "acme-okta", storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}

// testEmailLinksEndAtRecovery: links made on an email assertion are
// marked, and removed (audited) by UnlinkEmailLinks; other links stay.
func testEmailLinksEndAtRecovery(t *testing.T, s storage.Store) {
	must(t, s.UpsertConnection(ctx, storage.Connection{ID: "mail-linked", Type: "oidc", Name: "M", Enabled: true, DefaultRole: "member"}, storage.AuditEvent{}))
	u := newUser(t, s)
	must(t, s.LinkIdentity(ctx, storage.FederatedIdentity{ConnectionID: "mail-linked", Issuer: "https://up", Subject: "by-email", UserID: u.ID,
		LinkedByEmail: true}, storage.AuditEvent{}))
	must(t, s.LinkIdentity(ctx, storage.FederatedIdentity{ConnectionID: "mail-linked", Issuer: "https://up", Subject: "by-subject", UserID: u.ID}, storage.AuditEvent{}))
	if fi, err := s.IdentityByUpstream(ctx, "mail-linked", "https://up", "by-email"); err != nil || !fi.LinkedByEmail {
		t.Fatalf("email link: %+v %v", fi, err)
	}
	n, err := s.UnlinkEmailLinks(ctx, u.ID, ev("email_links_removed"))
	must(t, err)
	if n != 1 {
		t.Fatalf("removed %d links", n)
	}
	if _, err := s.IdentityByUpstream(ctx, "mail-linked", "https://up", "by-email"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("email link after recovery: %v", err)
	}
	if _, err := s.IdentityByUpstream(ctx, "mail-linked", "https://up", "by-subject"); err != nil {
		t.Fatalf("subject link removed: %v", err)
	}
	if n := auditCount(t, s, "email_links_removed"); n != 1 {
		t.Fatalf("audit rows %d", n)
	}
}

// testUnlinkIdentity: a person lists and removes their own links only,
// with its audit row.
func testUnlinkIdentity(t *testing.T, s storage.Store) {
	must(t, s.UpsertConnection(ctx, storage.Connection{ID: "unlink-conn", Type: "oidc", Name: "C", Enabled: true, DefaultRole: "member"}, storage.AuditEvent{}))
	u, other := newUser(t, s), newUser(t, s)
	fi := storage.FederatedIdentity{ConnectionID: "unlink-conn", Issuer: "https://idp", Subject: "s-1", UserID: u.ID, Email: "a@idp"}
	must(t, s.LinkIdentity(ctx, fi, storage.AuditEvent{}))
	if list, err := s.IdentitiesOf(ctx, u.ID); err != nil || len(list) != 1 || list[0].Subject != "s-1" {
		t.Fatalf("identities: %+v %v", list, err)
	}
	if list, _ := s.IdentitiesOf(ctx, other.ID); len(list) != 0 {
		t.Fatalf("another user's identities: %+v", list)
	}
	if err := s.UnlinkIdentity(ctx, other.ID, fi.ConnectionID, fi.Issuer, fi.Subject, ev("identity_unlinked")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another user unlinked it: %v", err)
	}
	must(t, s.UnlinkIdentity(ctx, u.ID, fi.ConnectionID, fi.Issuer, fi.Subject, ev("identity_unlinked")))
	if _, err := s.IdentityByUpstream(ctx, fi.ConnectionID, fi.Issuer, fi.Subject); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after unlinking: %v", err)
	}
	if n := auditCount(t, s, "identity_unlinked"); n != 1 {
		t.Fatalf("identity_unlinked rows: %d", n)
	}
}

// testChangeEmail: a change sets the new address verified, refuses one
// another account has, drops links made on an email assertion, and
// action tokens carry their data.
func testChangeEmail(t *testing.T, s storage.Store) {
	u, other := newUser(t, s), newUser(t, s)
	at := now()
	tok := storage.ActionToken{Hash: storage.HashSecret(random.ID()), Purpose: storage.PurposeChangeEmail, UserID: u.ID, Data: "New@Example.COM",
		CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.CreateActionToken(ctx, tok, storage.AuditEvent{}))
	if got, err := s.ActionTokenState(ctx, tok.Hash, storage.PurposeChangeEmail, at); err != nil || got.Data != "New@Example.COM" {
		t.Fatalf("token data: %+v %v", got, err)
	}
	if got, err := s.ConsumeActionToken(ctx, tok.Hash, storage.PurposeChangeEmail, at); err != nil || got.Data != "New@Example.COM" {
		t.Fatalf("consumed token data: %+v %v", got, err)
	}
	must(t, s.UpsertConnection(ctx, storage.Connection{ID: "email-conn", Type: "oidc", Name: "C", Enabled: true, DefaultRole: "member"}, storage.AuditEvent{}))
	must(t, s.LinkIdentity(ctx, storage.FederatedIdentity{ConnectionID: "email-conn", Issuer: "https://i", Subject: "by-email", UserID: u.ID, LinkedByEmail: true}, storage.AuditEvent{}))
	must(t, s.LinkIdentity(ctx, storage.FederatedIdentity{ConnectionID: "email-conn", Issuer: "https://i", Subject: "by-login", UserID: u.ID}, storage.AuditEvent{}))
	if err := s.ChangeEmail(ctx, u.ID, other.Email, ev("email_changed")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("another account's address: %v", err)
	}
	// Links sent before the change (a reset to the old address, another
	// change) end with it; a second change request ends the first.
	reset := storage.ActionToken{Hash: storage.HashSecret(random.ID()), Purpose: storage.PurposeResetPassword, UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.CreateActionToken(ctx, reset, storage.AuditEvent{}))
	first := storage.ActionToken{Hash: storage.HashSecret(random.ID()), Purpose: storage.PurposeChangeEmail, UserID: u.ID, Data: "a@example.com", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	second := first
	second.Hash, second.Data = storage.HashSecret(random.ID()), "b@example.com"
	must(t, s.CreateActionToken(ctx, first, storage.AuditEvent{}))
	must(t, s.CreateActionToken(ctx, second, storage.AuditEvent{}))
	if _, err := s.ActionTokenState(ctx, first.Hash, storage.PurposeChangeEmail, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("an earlier change request after a later one: %v", err)
	}
	must(t, s.ChangeEmail(ctx, u.ID, "New@Example.COM", ev("email_changed")))
	for name, h := range map[string]string{"reset": reset.Hash, "change": second.Hash} {
		purpose := storage.PurposeResetPassword
		if name == "change" {
			purpose = storage.PurposeChangeEmail
		}
		if _, err := s.ActionTokenState(ctx, h, purpose, at); !errors.Is(err, storage.ErrAlreadyUsed) {
			t.Fatalf("a %s link after the address changed: %v", name, err)
		}
	}
	// A password change ends pending links too.
	third := storage.ActionToken{Hash: storage.HashSecret(random.ID()), Purpose: storage.PurposeChangeEmail, UserID: u.ID, Data: "c@example.com", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.CreateActionToken(ctx, third, storage.AuditEvent{}))
	must(t, s.SetPassword(ctx, u.ID, "h2", at, storage.AuditEvent{}))
	if _, err := s.ActionTokenState(ctx, third.Hash, storage.PurposeChangeEmail, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("a change link after a password change: %v", err)
	}
	got, err := s.UserByEmail(ctx, "new@example.com")
	if err != nil || got.ID != u.ID || !got.EmailVerified {
		t.Fatalf("after the change: %+v %v", got, err)
	}
	if ids, _ := s.IdentitiesOf(ctx, u.ID); len(ids) != 1 || ids[0].Subject != "by-login" {
		t.Fatalf("links after the change: %+v", ids)
	}
	if n := auditCount(t, s, "email_changed"); n != 1 {
		t.Fatalf("email_changed rows: %d", n)
	}
}
