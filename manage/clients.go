package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// Grant types a client may be registered with.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// MaxClientList caps each list a client registers (redirect URIs, logout
// URIs, scopes, origins): enough for any real application, and a bound on
// what every token request compares against.
const MaxClientList = 20

// ClientSpec is a relying party (or service account) as a front door asks
// to register it. Field names in errors are the JSON/YAML names.
type ClientSpec struct {
	// ID is chosen by the operator (config, CLI); the management API
	// leaves it empty and gets a random one.
	ID                     string
	Name                   string
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scopes                 []string
	RequireConsent         bool
	RequireMFA             bool
	RequireVerifiedEmail   bool
	IDTokenSignedAlg       string
	// FirstParty: the operator's own application (operator only).
	FirstParty bool
	// ServiceRole makes the client a service account acting in its
	// organization with this role.
	ServiceRole    string
	APIs           []string
	DefaultAPI     string
	ActsFor        []string
	AllowedOrigins []string
}

// Registrar is who registers a client and what they may give it.
type Registrar struct {
	// Operator: the platform operator (config, CLI), who may register
	// first-party clients and give a service account any role.
	Operator bool
	// Role is the registering member's role in the organization, which
	// caps a service account's.
	Role string
	// APIs are the identifiers the registrar may reference in apis,
	// default_api and acts_for (an organization's own; the operator's
	// platform APIs).
	APIs []string
	// APIScopes are every scope an API defines: a client may not register
	// one as its own (it would collect the API's scope without the API).
	APIScopes []string
}

// Normalize trims the name and fills the default grant types
// (authorization_code with refresh_token).
func (c *ClientSpec) Normalize() {
	c.Name = strings.TrimSpace(c.Name)
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
}

// Check normalizes the spec, applies every client registration rule and
// reports every broken one.
func (c *ClientSpec) Check(reg Registrar) error {
	var es ValidationErrors
	add := func(field, msg string, args ...any) {
		es = append(es, &ValidationError{field, fmt.Sprintf(msg, args...)})
	}
	c.Normalize()
	if c.Name == "" || utf8.RuneCountInString(c.Name) > 200 {
		add("name", "must be 1 to 200 characters")
	}
	if c.ID != "" && !ValidSlug(c.ID) {
		add("id", "must be lower-case letters, digits and dashes (at most 63)")
	}
	if c.FirstParty && !reg.Operator {
		add("first_party", "only the platform operator registers first-party clients")
	}
	for i, g := range c.GrantTypes {
		if !slices.Contains(registration.GrantTypes, g) {
			add(fmt.Sprintf("grant_types[%d]", i), "%q must be one of %s", g, strings.Join(registration.GrantTypes, ", "))
		}
		if (g == GrantClientCredentials || g == registration.GrantTokenExchange) && c.Public {
			add(fmt.Sprintf("grant_types[%d]", i), "%s needs a confidential client", g)
		}
	}
	if c.ServiceRole != "" {
		switch {
		case !slices.Contains(roles.All, c.ServiceRole):
			add("service_role", "%q must be one of %s", c.ServiceRole, strings.Join(roles.All, ", "))
		case !reg.Operator && !roles.MayGrant(reg.Role, c.ServiceRole):
			add("service_role", "must be a role no higher than your own")
		}
		if c.Public || !slices.Equal(c.GrantTypes, []string{GrantClientCredentials}) {
			add("service_role", "a service account is confidential and uses client_credentials only")
		}
	}
	for field, list := range map[string][]string{"apis": c.APIs, "acts_for": c.ActsFor, "default_api": {c.DefaultAPI}} {
		for i, a := range list {
			if a != "" && !slices.Contains(reg.APIs, a) {
				if field == "default_api" {
					add(field, "%q is not an API you may grant", a)
				} else {
					add(fmt.Sprintf("%s[%d]", field, i), "%q is not an API you may grant", a)
				}
			}
		}
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		add("redirect_uris", "at least one is required for authorization_code")
	}
	for field, list := range map[string][]string{"redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs,
		"scopes": c.Scopes, "allowed_origins": c.AllowedOrigins} {
		if len(list) > MaxClientList {
			add(field, "at most %d", MaxClientList)
		}
	}
	for i, u := range c.RedirectURIs {
		if err := registration.ValidateRedirectURI(u); err != nil {
			add(fmt.Sprintf("redirect_uris[%d]", i), "%v", err)
		}
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if err := registration.ValidateRedirectURI(u); err != nil {
			add(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%v", err)
		}
	}
	for i, o := range c.AllowedOrigins {
		if err := registration.ValidateOrigin(o); err != nil {
			add(fmt.Sprintf("allowed_origins[%d]", i), "%v", err)
		}
	}
	for i, s := range c.Scopes {
		if s == "" || len(s) > 64 || strings.ContainsAny(s, " \t\r\n\"\\") {
			add(fmt.Sprintf("scopes[%d]", i), "%q is not a scope token", s)
		} else if slices.Contains(reg.APIScopes, s) {
			add(fmt.Sprintf("scopes[%d]", i), "%q belongs to an API; ask for it with the API instead", s)
		}
	}
	if c.IDTokenSignedAlg != "" && !slices.Contains(registration.SigningAlgs, c.IDTokenSignedAlg) {
		add("id_token_signed_response_alg", "%q must be one of %s", c.IDTokenSignedAlg, strings.Join(registration.SigningAlgs, ", "))
	}
	slices.SortStableFunc(es, func(a, b *ValidationError) int { return strings.Compare(a.Field, b.Field) })
	return es.Err()
}

// Stored is the client as the store keeps it, for orgID ("" for the
// operator's); secretHash is empty for a public client.
func (c ClientSpec) Stored(orgID, secretHash string) storage.Client {
	return storage.Client{ID: c.ID, OrgID: orgID, SecretHash: secretHash, Name: c.Name, RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, GrantTypes: c.GrantTypes, Scopes: c.Scopes,
		RequireConsent: c.RequireConsent, RequireMFA: c.RequireMFA, RequireVerifiedEmail: c.RequireVerifiedEmail,
		IDTokenSignedResponseAlg: c.IDTokenSignedAlg, FirstParty: c.FirstParty, ServiceRole: c.ServiceRole, APIs: c.APIs,
		DefaultAPI: c.DefaultAPI, ActsFor: c.ActsFor, AllowedOrigins: c.AllowedOrigins}
}

// NewSecret is a client secret: 256 bits, shown once; the store keeps
// only storage.HashSecret of it.
func NewSecret() string { return random.Token(32) }

// RegistrarFor is what a registrar may give a client, given every API
// there is: a member with role of orgID may grant that organization's own
// APIs; the operator (orgID "", role "") the platform's and the management
// API (managementAPI). Every API's scope, the management API's included,
// is off limits as a client's own.
func RegistrarFor(apis []storage.API, orgID, role, managementAPI string) Registrar {
	reg := Registrar{Role: role, Operator: orgID == "" && role == "",
		APIScopes: []string{registration.ScopeManage, registration.ScopeManageRead}}
	if reg.Operator {
		reg.APIs = append(reg.APIs, managementAPI)
	}
	for _, a := range apis {
		if a.OrgID == orgID {
			reg.APIs = append(reg.APIs, a.Identifier)
		}
		for _, sc := range a.Scopes {
			reg.APIScopes = append(reg.APIScopes, sc.Name)
		}
	}
	return reg
}

// Registrar is RegistrarFor over the stored APIs.
func (s *Service) Registrar(ctx context.Context, orgID, role string) (Registrar, error) {
	apis, err := s.Store.ListAPIs(ctx)
	if err != nil {
		return Registrar{}, fmt.Errorf("apis: %w", err)
	}
	return RegistrarFor(apis, orgID, role, s.ManagementAPI), nil
}

// RegisterClient registers a client for the organization on behalf of a
// member with role (the management API, the console): the ID and, for a
// confidential client, the secret are generated; the secret is returned
// here only. An organization's client is never first-party.
func (s *Service) RegisterClient(ctx context.Context, by Actor, org storage.Organization, role string, spec ClientSpec) (storage.Client, string, error) {
	reg, err := s.Registrar(ctx, org.ID, role)
	if err != nil {
		return storage.Client{}, "", err
	}
	spec.ID = ""
	if err := spec.Check(reg); err != nil {
		return storage.Client{}, "", err
	}
	spec.ID = random.ID()
	secret, hash := "", ""
	if !spec.Public {
		secret = NewSecret()
		hash = storage.HashSecret(secret)
	}
	stored, err := s.Store.UpsertClient(ctx, spec.Stored(org.ID, hash),
		by.Event(s.now(), EventClientCreated, About{Org: org.ID, Details: map[string]string{"client_id": spec.ID}}))
	if err != nil {
		return storage.Client{}, "", fmt.Errorf("create client: %w", err)
	}
	return stored, secret, nil
}

// CreatePlatformClient registers one of the operator's clients (the CLI)
// under the ID the operator chose, with the same rules as every other
// registration. An existing ID is refused (storage.ErrConflict), never
// replaced: replacing would rotate a live client's secret. The generated
// secret is returned here only.
func (s *Service) CreatePlatformClient(ctx context.Context, by Actor, spec ClientSpec) (storage.Client, string, error) {
	reg, err := s.Registrar(ctx, "", "") // the operator's
	if err != nil {
		return storage.Client{}, "", err
	}
	if spec.ID == "" {
		return storage.Client{}, "", Invalid("id", "is required")
	}
	if err := spec.Check(reg); err != nil {
		return storage.Client{}, "", err
	}
	if _, err := s.Store.ClientByID(ctx, spec.ID); err == nil {
		return storage.Client{}, "", fmt.Errorf("client %s: %w", spec.ID, storage.ErrConflict)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Client{}, "", fmt.Errorf("client: %w", err)
	}
	secret, hash := "", ""
	if !spec.Public {
		secret = NewSecret()
		hash = storage.HashSecret(secret)
	}
	stored, err := s.Store.UpsertClient(ctx, spec.Stored("", hash),
		by.Event(s.now(), EventClientCreated, About{Details: map[string]string{"client_id": spec.ID}}))
	if err != nil {
		return storage.Client{}, "", fmt.Errorf("create client: %w", err)
	}
	return stored, secret, nil
}

// ErrPublicClient means a public client has no secret to rotate.
var ErrPublicClient = errors.New("manage: a public client has no secret")

// RotateClientSecret replaces org's confidential client's secret (org
// zero: one of the operator's clients) and returns the new one, shown
// here only. Another organization's client is storage.ErrNotFound.
func (s *Service) RotateClientSecret(ctx context.Context, by Actor, org storage.Organization, clientID string) (storage.Client, string, error) {
	c, err := s.Store.ClientByID(ctx, clientID)
	if err == nil && c.OrgID != org.ID {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Client{}, "", fmt.Errorf("client: %w", err)
	}
	if c.Public() {
		return storage.Client{}, "", ErrPublicClient
	}
	secret := NewSecret()
	c.SecretHash = storage.HashSecret(secret)
	stored, err := s.Store.UpsertClient(ctx, c, by.Event(s.now(), EventClientSecretRotated,
		About{Org: org.ID, Details: map[string]string{"client_id": c.ID}}))
	if err != nil {
		return storage.Client{}, "", fmt.Errorf("rotate secret: %w", err)
	}
	return stored, secret, nil
}

// UpdatePlatformClient changes one of the operator's clients (the CLI's
// create --update) under the registration rules, keeping its secret (a
// secret changes only by RotateClientSecret) and whether it is public. It
// returns the client before and after.
func (s *Service) UpdatePlatformClient(ctx context.Context, by Actor, spec ClientSpec) (before, after storage.Client, err error) {
	before, err = s.Store.ClientByID(ctx, spec.ID)
	if err == nil && before.OrgID != "" {
		err = storage.ErrNotFound // an organization's client is changed through its organization
	}
	if err != nil {
		return before, after, fmt.Errorf("client %s: %w", spec.ID, err)
	}
	spec.Public = before.Public()
	reg, err := s.Registrar(ctx, "", "") // the operator's
	if err != nil {
		return before, after, err
	}
	if err := spec.Check(reg); err != nil {
		return before, after, err
	}
	after, err = s.Store.UpsertClient(ctx, spec.Stored("", before.SecretHash),
		by.Event(s.now(), EventClientUpserted, About{Details: map[string]string{"client_id": spec.ID}}))
	if err != nil {
		return before, after, fmt.Errorf("update client: %w", err)
	}
	return before, after, nil
}
