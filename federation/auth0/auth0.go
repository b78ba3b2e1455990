// Package auth0 configures the generic OIDC connector for an Auth0 tenant
// (issuer https://{domain}/).
package auth0

import (
	"errors"
	"net/http"
	"strings"

	"github.com/optibid/idp/federation/oidc"
)

// Config is an Auth0 connection.
type Config struct {
	Domain      string `json:"domain"` // acme.eu.auth0.com or a custom domain
	Issuer      string `json:"issuer"` // overrides https://{domain}/
	ClientID    string `json:"client_id"`
	GroupsClaim string `json:"groups_claim"` // a namespaced custom claim, e.g. https://optibid.example/groups
}

// IssuerURL returns the issuer the configuration names.
func (c Config) IssuerURL() string {
	if c.Issuer != "" {
		return c.Issuer
	}
	return "https://" + strings.TrimSuffix(c.Domain, "/") + "/"
}

// New builds the connector.
func New(c Config, secret, redirectURL string, hc *http.Client) (*oidc.Connector, error) {
	if c.Domain == "" && c.Issuer == "" {
		return nil, errors.New("auth0: domain is required")
	}
	return oidc.New(oidc.Config{Issuer: c.IssuerURL(), ClientID: c.ClientID, ClientSecret: secret, RedirectURL: redirectURL,
		GroupsClaim: c.GroupsClaim, HTTPClient: hc})
}
