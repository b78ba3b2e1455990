package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/federation/auth0"
	"github.com/optibid/idp/federation/azuread"
	"github.com/optibid/idp/federation/google"
	"github.com/optibid/idp/federation/oidc"
	"github.com/optibid/idp/federation/okta"
	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/roles"
	"github.com/optibid/idp/storage"
)

// connectorTypes builds a connector from a stored connection's type and
// JSON configuration: the registry of pluggable upstreams.
var connectorTypes = map[string]func(cfg []byte, secret, redirect string, hc *http.Client) (federation.Connector, error){
	"oidc": func(cfg []byte, secret, redirect string, hc *http.Client) (federation.Connector, error) {
		var c ConnectionConfig
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, err
		}
		return oidc.New(oidc.Config{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: secret, RedirectURL: redirect,
			GroupsClaim: c.GroupsClaim, HTTPClient: hc})
	},
	"okta": func(cfg []byte, secret, redirect string, hc *http.Client) (federation.Connector, error) {
		var c okta.Config
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, err
		}
		return okta.New(c, secret, redirect, hc)
	},
	"google": func(cfg []byte, secret, redirect string, hc *http.Client) (federation.Connector, error) {
		var c google.Config
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, err
		}
		return google.New(c, secret, redirect, hc)
	},
	"azuread": func(cfg []byte, secret, redirect string, hc *http.Client) (federation.Connector, error) {
		var c azuread.Config
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, err
		}
		return azuread.New(c, secret, redirect, hc)
	},
	"auth0": func(cfg []byte, secret, redirect string, hc *http.Client) (federation.Connector, error) {
		var c auth0.Config
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, err
		}
		return auth0.New(c, secret, redirect, hc)
	},
}

// connectors builds and caches connectors; a changed connection (new
// UpdatedAt) gets a new connector.
type connectors struct {
	box      *seal.Box
	redirect string
	client   *http.Client

	mu    sync.Mutex
	cache map[string]cachedConnector
}

type cachedConnector struct {
	updated time.Time
	c       federation.Connector
}

func newConnectors(box *seal.Box, issuer string, timeout time.Duration, allowPrivate bool) *connectors {
	return &connectors{box: box, redirect: issuer + "/federation/callback", client: httpx.OutboundClient(timeout, allowPrivate),
		cache: map[string]cachedConnector{}}
}

func (cs *connectors) Connector(_ context.Context, conn storage.Connection) (federation.Connector, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.cache[conn.ID]; ok && c.updated.Equal(conn.UpdatedAt) {
		return c.c, nil
	}
	build, ok := connectorTypes[conn.Type]
	if !ok {
		return nil, fmt.Errorf("connection %s: unknown type %q", conn.ID, conn.Type)
	}
	secret := ""
	if len(conn.SecretSealed) > 0 {
		b, err := cs.box.Open(conn.SecretSealed, []byte("connection:"+conn.ID))
		if err != nil {
			return nil, fmt.Errorf("connection %s: secret: %w", conn.ID, err)
		}
		secret = string(b)
	}
	c, err := build(conn.Config, secret, cs.redirect, cs.client)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", conn.ID, err)
	}
	cs.cache[conn.ID] = cachedConnector{updated: conn.UpdatedAt, c: c}
	return c, nil
}

// Check builds a connector from settings without network: the management
// layer's test of a new connection. What is wrong is a
// *manage.ValidationError: the connectors' own messages are written for
// the admin who typed the settings; a JSON type error is not shown.
func (cs *connectors) Check(typ string, settings []byte, secret string) error {
	build, ok := connectorTypes[typ]
	if !ok {
		return manage.Invalid("type", "must be one of "+strings.Join(slices.Sorted(maps.Keys(connectorTypes)), ", "))
	}
	if _, err := build(settings, secret, cs.redirect, nil); err != nil {
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &syntax) || errors.As(err, &typeErr) {
			return manage.Invalid("settings", "must be an object of the preset's fields")
		}
		msg := err.Error()
		if pkg, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(pkg, " ") {
			msg = rest // the connector package's prefix is no help to an admin
		}
		return manage.Invalid("settings", "are not usable: "+msg)
	}
	return nil
}

// Probe asks conn's upstream what it publishes (manage.ErrCannotProbe for
// a connector that cannot say).
func (cs *connectors) Probe(ctx context.Context, conn storage.Connection) (federation.Metadata, error) {
	c, err := cs.Connector(ctx, conn)
	if err != nil {
		return federation.Metadata{}, err
	}
	p, ok := c.(federation.Prober)
	if !ok {
		return federation.Metadata{}, manage.ErrCannotProbe
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return p.Probe(ctx)
}

// Seal encrypts a connection's client secret, bound to its ID.
func (cs *connectors) Seal(connectionID, secret string) []byte {
	return cs.box.Seal([]byte(secret), []byte("connection:"+connectionID))
}

// validateConnections checks the declared connections, building each one
// (without network) so that configuration mistakes stop the start.
func (c *Config) validateConnections(es *checks) {
	ids := map[string]bool{}
	orgs := map[string]bool{}
	for _, o := range c.Bootstrap.Organizations {
		orgs[o.Slug] = true
	}
	for i, cc := range c.Federation.Connections {
		key := fmt.Sprintf("federation.connections[%d]", i)
		if !manage.ValidSlug(cc.ID) || ids[cc.ID] {
			es.addf("%s.id: %q must be a unique lower-case slug", key, cc.ID)
		}
		ids[cc.ID] = true
		build, ok := connectorTypes[cc.Type]
		if !ok {
			es.addf("%s.type: %q must be one of %s", key, cc.Type, strings.Join(slices.Sorted(maps.Keys(connectorTypes)), ", "))
		}
		if cc.ClientID == "" {
			es.addf("%s.client_id: is required", key)
		}
		if cc.Organization != "" && !orgs[cc.Organization] {
			es.addf("%s.organization: %q is not declared in bootstrap.organizations", key, cc.Organization)
		}
		spec := manage.ConnectionSpec{Name: cc.Name, DefaultRole: cc.DefaultRole, RoleMapping: cc.RoleMapping, MaxRole: cc.MaxRole}
		es.collect(manage.Prefix(key, spec.Check("", true)))
		if !ok {
			continue // nothing to build
		}
		if _, err := build(presetJSON(cc), cc.ClientSecret, c.Issuer+"/federation/callback", nil); err != nil {
			es.addf("%s: %v", key, err)
		}
	}
}

// presetJSON is the stored (secret-free) configuration of a connection.
func presetJSON(cc ConnectionConfig) []byte {
	b, _ := json.Marshal(map[string]any{"issuer": cc.Issuer, "domain": cc.Domain, "authorization_server": cc.AuthorizationServer,
		"tenant": cc.Tenant, "allowed_tenants": cc.AllowedTenants, "hosted_domain": cc.HostedDomain, "base_url": cc.BaseURL,
		"groups_claim": cc.GroupsClaim, "client_id": cc.ClientID})
	return b
}

// bootstrapConnections stores the declared connections, secrets sealed.
func bootstrapConnections(ctx context.Context, s storage.Store, box *seal.Box, ccs []ConnectionConfig, now func() time.Time) error {
	for _, cc := range ccs {
		conn := storage.Connection{ID: cc.ID, Type: cc.Type, Name: cc.Name, Config: presetJSON(cc), Enabled: !cc.Disabled,
			LinkByEmail: cc.LinkByEmail, AllowEmailLinking: cc.LinkByEmail, TrustUpstreamMFA: cc.TrustUpstreamMFA, MaxRole: maxRole(cc),
			DefaultRole: cc.DefaultRole, RoleMapping: cc.RoleMapping}
		if cc.Organization != "" {
			o, err := s.OrganizationBySlug(ctx, cc.Organization)
			if err != nil {
				return fmt.Errorf("bootstrap: connection %s: %w", cc.ID, err)
			}
			conn.OrgID = o.ID
		}
		if cc.ClientSecret != "" {
			conn.SecretSealed = (&connectors{box: box}).Seal(cc.ID, cc.ClientSecret)
		}
		if err := s.UpsertConnection(ctx, conn, manage.Bootstrap.Event(now(), manage.EventConnectionUpserted,
			manage.About{Details: map[string]string{"connection": cc.ID}})); err != nil {
			return fmt.Errorf("bootstrap: connection %s: %w", cc.ID, err)
		}
	}
	return nil
}

// maxRole is a declared connection's role ceiling: max_role, or else the
// highest role its declaration grants (default or mapped).
func maxRole(cc ConnectionConfig) string {
	if cc.MaxRole != "" {
		return cc.MaxRole
	}
	top := cc.DefaultRole
	for _, r := range cc.RoleMapping {
		if roles.Rank(r) > roles.Rank(top) {
			top = r
		}
	}
	return top
}
