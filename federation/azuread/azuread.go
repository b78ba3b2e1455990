// Package azuread configures the generic OIDC connector for Microsoft Entra
// ID (Azure AD) v2: one tenant, or the multi-tenant "organizations" and
// "common" endpoints with an allow-list of tenant IDs checked on the tid
// claim. Identities are keyed on tid + oid, the only stable pair; the email
// claim is mutable by tenant admins and is never treated as verified
// (the "nOAuth" class), unless the token proves it (xms_edov).
package azuread

import (
	"errors"
	"net/http"
	"strings"

	"github.com/optibid/idp/federation"
	"github.com/optibid/idp/federation/oidc"
)

// DefaultBaseURL is Microsoft's login host.
const DefaultBaseURL = "https://login.microsoftonline.com"

// Config is an Azure AD connection.
type Config struct {
	Tenant         string   `json:"tenant"`          // a tenant ID, or "organizations" / "common"
	AllowedTenants []string `json:"allowed_tenants"` // required for organizations/common
	ClientID       string   `json:"client_id"`
	BaseURL        string   `json:"base_url"` // overrides DefaultBaseURL (sovereign clouds, tests)
}

func (c Config) multiTenant() bool { return c.Tenant == "organizations" || c.Tenant == "common" }

// New builds the connector.
func New(c Config, secret, redirectURL string, hc *http.Client) (*oidc.Connector, error) {
	if c.Tenant == "" {
		return nil, errors.New("azuread: tenant is required")
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	cfg := oidc.Config{Issuer: base + "/" + c.Tenant + "/v2.0", ClientID: c.ClientID, ClientSecret: secret, RedirectURL: redirectURL,
		HTTPClient: hc, Adjust: adjust}
	if c.multiTenant() {
		if len(c.AllowedTenants) == 0 {
			return nil, errors.New("azuread: allowed_tenants is required for the organizations and common endpoints")
		}
		cfg.IssuerTemplate = base + "/{tenantid}/v2.0"
		cfg.Check = oidc.TenantCheck(c.AllowedTenants)
	} else {
		cfg.Check = oidc.TenantCheck([]string{c.Tenant})
	}
	return oidc.New(cfg)
}

// adjust keys the identity on tid:oid and distrusts the email.
func adjust(claims map[string]any, id *federation.Identity) {
	tid, _ := claims["tid"].(string)
	oid, _ := claims["oid"].(string)
	if tid != "" && oid != "" {
		id.Subject = tid + ":" + oid
	}
	if id.Email == "" {
		if u, _ := claims["preferred_username"].(string); strings.Contains(u, "@") {
			id.Email = strings.ToLower(u)
		}
	}
	edov, _ := claims["xms_edov"].(bool)
	id.EmailVerified = edov
}
