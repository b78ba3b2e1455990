package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/login"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/provider"
	"github.com/optibid/idp/storage"
)

// ApplyBootstrap creates or updates the organizations, users and clients
// declared in config. It is idempotent: an unchanged declaration writes
// nothing (and audits nothing), so a YAML file can declare clients
// GitOps-style and every replica may apply it at start.
func ApplyBootstrap(ctx context.Context, s storage.Store, h *password.Hasher, b Bootstrap, now func() time.Time) error {
	ev := func(typ manage.EventType, details map[string]string) storage.AuditEvent {
		return manage.Bootstrap.Event(now(), typ, manage.About{Details: details})
	}
	if h == nil && len(b.Users) > 0 {
		return errors.New("bootstrap: users need a password hasher")
	}
	if err := bootstrapFeatures(ctx, s, b, ev); err != nil {
		return err
	}
	orgs := map[string]storage.Organization{}
	for _, o := range b.Organizations {
		stored, err := bootstrapOrg(ctx, s, o, ev)
		if err != nil {
			return fmt.Errorf("bootstrap: organization %s: %w", o.Slug, err)
		}
		orgs[o.Slug] = stored
	}
	if len(b.Users) > 0 {
		// The hasher's reference hash left argon2id's working set
		// (tens of MiB) as garbage; collect it before the users' hashes
		// take a working set of their own, so starting never holds two.
		runtime.GC()
	}
	for _, u := range b.Users {
		if err := bootstrapUser(ctx, s, h, u, orgs, now, ev); err != nil {
			return fmt.Errorf("bootstrap: user %s: %w", u.Email, err)
		}
	}
	if err := bootstrapAPIs(ctx, s, b.APIs, ev); err != nil {
		return err
	}
	for _, c := range b.Clients {
		spec := c.Spec()
		spec.Normalize()
		hash := ""
		if c.Secret != "" {
			hash = storage.HashSecret(c.Secret)
		}
		want := spec.Stored("", hash)
		existing, err := s.ClientByID(ctx, c.ID)
		if err == nil && sameClient(existing, want) {
			continue
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("bootstrap: client %s: %w", c.ID, err)
		}
		if _, err := s.UpsertClient(ctx, want, ev(manage.EventClientUpserted, map[string]string{"client_id": c.ID})); err != nil {
			return fmt.Errorf("bootstrap: client %s: %w", c.ID, err)
		}
	}
	return nil
}

// bootstrapOrg creates or updates one organization and its policies,
// writing only what changed.
func bootstrapOrg(ctx context.Context, s storage.Store, o BootstrapOrg, ev func(manage.EventType, map[string]string) storage.AuditEvent) (storage.Organization, error) {
	stored, err := s.OrganizationBySlug(ctx, o.Slug)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return stored, err
	}
	if err != nil || stored.Name != o.Name {
		if stored, err = s.UpsertOrganization(ctx, storage.Organization{Slug: o.Slug, Name: o.Name},
			ev(manage.EventOrganizationUpserted, map[string]string{"slug": o.Slug})); err != nil {
			return stored, err
		}
	}
	mfaPolicy := o.MFA
	if mfaPolicy == "" {
		mfaPolicy = manage.MFAOptional
	}
	if stored.MFAPolicy != mfaPolicy {
		if err := s.SetMFAPolicy(ctx, stored.ID, mfaPolicy, ev(manage.EventMFAPolicyChanged, map[string]string{"slug": o.Slug, "mfa": mfaPolicy})); err != nil {
			return stored, err
		}
		stored.MFAPolicy = mfaPolicy
	}
	plan := o.Plan
	if plan == "" {
		plan = "free"
	}
	if stored.Plan != plan {
		if err := s.SetPlan(ctx, stored.ID, plan, ev(manage.EventPlanChanged, map[string]string{"slug": o.Slug, "plan": plan})); err != nil {
			return stored, err
		}
		stored.Plan = plan
	}
	if stored.RequireVerifiedEmail != o.RequireVerifiedEmail {
		if err := s.SetEmailPolicy(ctx, stored.ID, o.RequireVerifiedEmail, ev(manage.EventEmailPolicyChanged, map[string]string{"slug": o.Slug})); err != nil {
			return stored, err
		}
		stored.RequireVerifiedEmail = o.RequireVerifiedEmail
	}
	if stored.JoinByDomain != o.JoinByDomain {
		if err := s.SetJoinByDomain(ctx, stored.ID, o.JoinByDomain, ev(manage.EventJoinByDomainChanged, map[string]string{"slug": o.Slug})); err != nil {
			return stored, err
		}
		stored.JoinByDomain = o.JoinByDomain
	}
	return stored, nil
}

func bootstrapUser(ctx context.Context, s storage.Store, h *password.Hasher, u BootstrapUser, orgs map[string]storage.Organization,
	now func() time.Time, ev func(manage.EventType, map[string]string) storage.AuditEvent) error {
	email := strings.ToLower(u.Email)
	existing, err := s.UserByEmail(ctx, email)
	created := false
	if errors.Is(err, storage.ErrNotFound) {
		hash, herr := h.Hash(ctx, u.Password)
		if herr != nil {
			return herr
		}
		existing, err = s.CreateUser(ctx, storage.User{Email: email, Name: u.Name, PasswordHash: hash, EmailVerified: true},
			ev(manage.EventUserCreated, map[string]string{"email": email}))
		created = err == nil
		if errors.Is(err, storage.ErrConflict) {
			// Another replica starting at the same moment created it: use
			// theirs (replicas apply the same file).
			existing, err = s.UserByEmail(ctx, email)
		}
	}
	if err != nil {
		return err
	}
	// Rows about a stored user name them, as the API's rows do.
	about := func(typ manage.EventType, details map[string]string) storage.AuditEvent {
		e := ev(typ, details)
		e.SubjectID = existing.ID
		return e
	}
	if existing.Name != u.Name {
		if err := s.UpdateProfile(ctx, existing.ID, u.Name, existing.EmailVerified, about(manage.EventUserUpdated, nil)); err != nil {
			return err
		}
	}
	if !created && !storedPassword(ctx, h, existing, u.Password) {
		hash, err := h.Hash(ctx, u.Password)
		if err != nil {
			return err
		}
		if err := s.SetPassword(ctx, existing.ID, hash, now().UTC(), about(manage.EventPasswordChanged, map[string]string{"by": "bootstrap"})); err != nil {
			return err
		}
	}
	if u.PlatformAdmin && !existing.PlatformAdmin {
		if err := s.SetPlatformAdmin(ctx, existing.ID, true, about(manage.EventPlatformAdminGranted, map[string]string{"email": email})); err != nil {
			return err
		}
	}
	if u.Organization == "" {
		return nil
	}
	org := orgs[u.Organization]
	ms, err := s.MembershipsByUser(ctx, existing.ID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(ms, func(m storage.Membership) bool { return m.OrgID == org.ID && m.Role == u.Role }) {
		return nil
	}
	m := about(manage.EventMembershipUpserted, map[string]string{"org": u.Organization, "role": u.Role})
	m.OrgID = org.ID
	return s.UpsertMembership(ctx, storage.Membership{UserID: existing.ID, OrgID: org.ID, Role: u.Role}, m)
}

// storedPassword tells whether a stored user's password is the configured
// one. A user created just now has it already, which is why the caller
// asks only for stored users: the check costs a hash.
func storedPassword(ctx context.Context, h *password.Hasher, u storage.User, pw string) bool {
	ok, _, _ := h.Verify(ctx, u.PasswordHash, pw)
	return ok
}

func sameClient(a, b storage.Client) bool {
	return a.Name == b.Name && a.SecretHash == b.SecretHash && slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) && slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.Scopes, b.Scopes) && a.RequireConsent == b.RequireConsent && a.IDTokenSignedResponseAlg == b.IDTokenSignedResponseAlg &&
		a.RequireMFA == b.RequireMFA && a.RequireVerifiedEmail == b.RequireVerifiedEmail && a.FirstParty == b.FirstParty &&
		slices.Equal(a.APIs, b.APIs) && a.DefaultAPI == b.DefaultAPI && slices.Equal(a.ActsFor, b.ActsFor) &&
		slices.Equal(a.AllowedOrigins, b.AllowedOrigins)
}

// bootstrapAPIs writes the declared APIs, skipping the ones stored
// unchanged. APIs not declared are left alone (operators and
// organizations also register them through the API and the CLI).
func bootstrapAPIs(ctx context.Context, s storage.Store, apis []BootstrapAPI, ev func(manage.EventType, map[string]string) storage.AuditEvent) error {
	if len(apis) == 0 {
		return nil
	}
	stored, err := s.ListAPIs(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: apis: %w", err)
	}
	for _, a := range apis {
		want := a.Stored()
		i := slices.IndexFunc(stored, func(x storage.API) bool { return x.Identifier == want.Identifier })
		if i >= 0 && sameAPI(stored[i], want) {
			continue
		}
		if _, err := s.UpsertAPI(ctx, want, ev(manage.EventAPISaved, map[string]string{"api": want.Identifier})); err != nil {
			return fmt.Errorf("bootstrap: api %s: %w", want.Identifier, err)
		}
	}
	return nil
}

func sameAPI(a, b storage.API) bool {
	return a.Name == b.Name && a.OrgID == b.OrgID && slices.Equal(a.Scopes, b.Scopes) && a.AccessTokenTTL == b.AccessTokenTTL &&
		a.SigningAlg == b.SigningAlg && slices.Equal(a.Claims, b.Claims) && a.RequireGrant == b.RequireGrant
}

// bootstrapFeatures writes the declared feature catalogue and templates,
// skipping the ones stored unchanged. Features not declared are left alone:
// the catalogue may also be managed through the API.
func bootstrapFeatures(ctx context.Context, s storage.Store, b Bootstrap, ev func(manage.EventType, map[string]string) storage.AuditEvent) error {
	if len(b.Features) == 0 && len(b.Templates) == 0 && len(b.Widgets) == 0 {
		return nil
	}
	stored, err := s.ListFeatures(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: features: %w", err)
	}
	byKey := map[string]storage.FeatureDefinition{}
	for _, f := range stored {
		byKey[f.Key] = f
	}
	for _, f := range b.Features {
		cfg, err := json.Marshal(f.Config)
		if err != nil {
			return fmt.Errorf("bootstrap: feature %s: config: %w", f.Key, err)
		}
		if f.Config == nil {
			cfg = nil
		}
		want := storage.FeatureDefinition{Key: f.Key, Name: f.Name, Description: f.Description, Category: f.Category,
			Plans: f.Plans, Requires: f.Requires, Conflicts: f.Conflicts, Config: cfg}
		if old, ok := byKey[f.Key]; ok && sameFeature(old, want) {
			continue
		}
		if err := s.UpsertFeature(ctx, want, ev(manage.EventFeatureDefined, map[string]string{"feature": f.Key})); err != nil {
			return fmt.Errorf("bootstrap: feature %s: %w", f.Key, err)
		}
	}
	if err := bootstrapWidgets(ctx, s, b.Widgets, ev); err != nil {
		return err
	}
	for _, t := range b.Templates {
		features, err := json.Marshal(t.Features)
		if err != nil {
			return fmt.Errorf("bootstrap: template %s: %w", t.ID, err)
		}
		want := storage.FeatureTemplate{ID: t.ID, Name: t.Name, Description: t.Description, Features: features}
		old, err := s.TemplateByID(ctx, t.ID)
		if err == nil && old.Name == want.Name && old.Description == want.Description && jsonEqual(old.Features, want.Features) {
			continue
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("bootstrap: template %s: %w", t.ID, err)
		}
		if err := s.UpsertTemplate(ctx, want, ev(manage.EventTemplateDefined, map[string]string{"template": t.ID})); err != nil {
			return fmt.Errorf("bootstrap: template %s: %w", t.ID, err)
		}
	}
	return nil
}

func sameFeature(a, b storage.FeatureDefinition) bool {
	return a.Name == b.Name && a.Description == b.Description && a.Category == b.Category &&
		slices.Equal(norm(a.Plans), norm(b.Plans)) && slices.Equal(norm(a.Requires), norm(b.Requires)) &&
		slices.Equal(norm(a.Conflicts), norm(b.Conflicts)) && jsonEqual(a.Config, b.Config)
}

func norm(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Sorted(slices.Values(s))
}

// jsonEqual compares two JSON documents by value (PostgreSQL's jsonb
// reorders keys); empty and null are equal.
func jsonEqual(a, b []byte) bool {
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return reflect.DeepEqual(x, y)
}

// bootstrapWidgets writes the declared widget library, skipping widgets
// stored unchanged.
func bootstrapWidgets(ctx context.Context, s storage.Store, ws []BootstrapWidget, ev func(manage.EventType, map[string]string) storage.AuditEvent) error {
	if len(ws) == 0 {
		return nil
	}
	stored, err := s.ListWidgets(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: widgets: %w", err)
	}
	byKey := map[string]storage.Widget{}
	for _, w := range stored {
		byKey[w.Key] = w
	}
	for _, w := range ws {
		cfg, err := json.Marshal(w.Config)
		if err != nil {
			return fmt.Errorf("bootstrap: widget %s: config: %w", w.Key, err)
		}
		want := storage.Widget{Key: w.Key, Name: w.Name, Description: w.Description, RequiredFeatures: w.RequiredFeatures, Config: cfg}
		if old, ok := byKey[w.Key]; ok && old.Name == want.Name && old.Description == want.Description &&
			slices.Equal(norm(old.RequiredFeatures), norm(want.RequiredFeatures)) && jsonEqual(old.Config, want.Config) {
			continue
		}
		if err := s.UpsertWidget(ctx, want, ev(manage.EventWidgetDefined, map[string]string{"widget": w.Key})); err != nil {
			return fmt.Errorf("bootstrap: widget %s: %w", w.Key, err)
		}
	}
	return nil
}

// Rules is the management layer over store for the operator's tools.
func Rules(cfg *Config, store storage.Store) *manage.Service {
	return &manage.Service{Store: store, ManagementAPI: cfg.Issuer + provider.ManagementAPIPath, ProductName: cfg.MFA.IssuerName,
		InvitationURL: cfg.invitationURL(), InvitationTTL: cfg.Accounts.InvitationTTL, NoPasskeys: !login.PasskeysAvailable(cfg.Issuer)}
}
