package manage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// Connectors checks and seals upstream identity-provider settings (the
// connector registry, which lives in the application).
type Connectors interface {
	// Check builds the connector without network; a broken setting is a
	// *ValidationError.
	Check(typ string, settings []byte, secret string) error
	// Seal encrypts the client secret, bound to the connection ID.
	Seal(connectionID, secret string) []byte
	// Probe asks the connection's upstream what it publishes
	// (federation.ErrUpstream when it cannot be read or is unusable).
	Probe(ctx context.Context, conn storage.Connection) (federation.Metadata, error)
}

// ErrCannotProbe means the connection's type cannot be tested from here.
var ErrCannotProbe = errors.New("manage: this type of connection cannot be tested")

// OrgConnection is org's connection id; another organization's (or a
// platform connection) is storage.ErrNotFound.
func (s *Service) OrgConnection(ctx context.Context, org storage.Organization, id string) (storage.Connection, error) {
	conn, err := s.Store.ConnectionByID(ctx, id)
	if err == nil && conn.OrgID != org.ID {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Connection{}, fmt.Errorf("connection: %w", err)
	}
	return conn, nil
}

// SetConnectionEnabled turns org's connection on or off: off, its button
// is gone and its sign-ins are refused, and linked accounts stay. Turning
// one on is creating it again as far as roles go: whoever does it (role
// own) must be able to grant every role it provisions, so an admin cannot
// switch on an owner's connection that mints owners.
func (s *Service) SetConnectionEnabled(ctx context.Context, by Actor, org storage.Organization, own, id string, enabled bool) (storage.Connection, error) {
	conn, err := s.OrgConnection(ctx, org, id)
	if err != nil {
		return storage.Connection{}, err
	}
	if enabled && !by.Operator {
		for _, role := range append([]string{conn.DefaultRole, conn.MaxRole}, slices.Collect(maps.Values(conn.RoleMapping))...) {
			if role != "" && !roles.MayGrant(own, role) {
				return storage.Connection{}, &RoleCeilingError{Role: role}
			}
		}
	}
	conn.Enabled = enabled
	if err := s.Store.UpsertConnection(ctx, conn, by.Event(s.now(), EventConnectionUpdated,
		About{Org: org.ID, Details: map[string]string{"connection": id, "enabled": fmt.Sprint(enabled)}})); err != nil {
		return storage.Connection{}, fmt.Errorf("update connection: %w", err)
	}
	return s.OrgConnection(ctx, org, id)
}

// TestConnection runs discovery against org's connection's upstream and
// reports what it found; the error says what is wrong (for the admin).
func (s *Service) TestConnection(ctx context.Context, org storage.Organization, id string) (federation.Metadata, error) {
	conn, err := s.OrgConnection(ctx, org, id)
	if err != nil {
		return federation.Metadata{}, err
	}
	return s.Connectors.Probe(ctx, conn)
}

// ConnectionSpec is an upstream identity provider as an organization
// registers it.
type ConnectionSpec struct {
	Type         string
	Name         string // the sign-in button's label
	Settings     []byte // the preset's fields, JSON, secret-free
	ClientSecret string
	Disabled     bool
	LinkByEmail  bool
	DefaultRole  string
	RoleMapping  map[string]string
	// The operator's say: whether the upstream may link existing accounts
	// by email, and whether its amr is believed.
	AllowEmailLinking bool
	TrustUpstreamMFA  bool
	MaxRole           string
}

// ErrOperatorOnly means only the platform operator decides this.
var ErrOperatorOnly = errors.New("manage: only the platform operator decides this")

// RoleCeilingError means the change would give a role above the actor's own.
type RoleCeilingError struct{ Role string }

func (e *RoleCeilingError) Error() string { return "manage: cannot grant the role " + e.Role }

// Check applies the connection rules for a registrar with role (""
// for the operator, who has no ceiling) and fills the defaults: the
// trust flags are the operator's (ErrOperatorOnly); the name is the
// sign-in button's label; every role the connection can give (default,
// mapped, its ceiling, which defaults to the registrar's role) is a known
// role within the registrar's own (*RoleCeilingError).
func (spec *ConnectionSpec) Check(role string, operator bool) error {
	if (spec.AllowEmailLinking || spec.TrustUpstreamMFA) && !operator {
		return ErrOperatorOnly
	}
	if spec.MaxRole == "" {
		spec.MaxRole = role // provisioned and linked users never exceed the creator's role
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || utf8.RuneCountInString(spec.Name) > 100 {
		return Invalid("name", "the sign-in button's label must be 1 to 100 characters")
	}
	if spec.DefaultRole == "" {
		spec.DefaultRole = roles.Member
	}
	fields := map[string]string{"default_role": spec.DefaultRole}
	if spec.MaxRole != "" {
		fields["max_role"] = spec.MaxRole
	}
	for g, r := range spec.RoleMapping {
		fields["role_mapping["+g+"]"] = r
	}
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		r := fields[field]
		if !slices.Contains(roles.All, r) {
			return Invalid(field, fmt.Sprintf("%q must be one of %s", r, strings.Join(roles.All, ", ")))
		}
		if role != "" && !roles.MayGrant(role, r) {
			return &RoleCeilingError{Role: r}
		}
	}
	return nil
}

// CreateConnection adds an upstream identity provider for org's members,
// registered by a member with role. Roles it provisions (default, mapped
// and its ceiling) stay within the registrar's own, so single sign-on
// cannot mint owners an admin could not; email linking and upstream MFA
// are the operator's to allow.
func (s *Service) CreateConnection(ctx context.Context, by Actor, org storage.Organization, role string, spec ConnectionSpec) (storage.Connection, error) {
	if err := spec.Check(role, by.Operator); err != nil {
		return storage.Connection{}, err
	}
	if err := s.Connectors.Check(spec.Type, spec.Settings, spec.ClientSecret); err != nil {
		return storage.Connection{}, err
	}
	conn := storage.Connection{ID: random.ID(), Type: spec.Type, Name: spec.Name, OrgID: org.ID, Config: spec.Settings,
		Enabled: !spec.Disabled, LinkByEmail: spec.LinkByEmail, DefaultRole: spec.DefaultRole, RoleMapping: spec.RoleMapping,
		AllowEmailLinking: spec.AllowEmailLinking, TrustUpstreamMFA: spec.TrustUpstreamMFA, MaxRole: spec.MaxRole}
	if spec.ClientSecret != "" {
		conn.SecretSealed = s.Connectors.Seal(conn.ID, spec.ClientSecret)
	}
	if err := s.Store.UpsertConnection(ctx, conn, by.Event(s.now(), EventConnectionCreated,
		About{Org: org.ID, Details: map[string]string{"connection": conn.ID, "type": conn.Type}})); err != nil {
		return storage.Connection{}, fmt.Errorf("create connection: %w", err)
	}
	stored, err := s.Store.ConnectionByID(ctx, conn.ID)
	if err != nil {
		return storage.Connection{}, fmt.Errorf("connection: %w", err)
	}
	return stored, nil
}
