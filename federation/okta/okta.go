// Package okta configures the generic OIDC connector for Okta: the org
// authorization server (https://{domain}) or a custom one
// (https://{domain}/oauth2/{server}).
package okta

import (
	"errors"
	"net/http"
	"strings"

	"github.com/optibid/idp/federation/oidc"
)

// Config is an Okta connection.
type Config struct {
	Domain              string `json:"domain"`               // acme.okta.com
	AuthorizationServer string `json:"authorization_server"` // empty: the org server; "default" or an ID: a custom one
	Issuer              string `json:"issuer"`               // overrides the issuer built from the above
	ClientID            string `json:"client_id"`
	GroupsClaim         string `json:"groups_claim"`
}

// IssuerURL returns the issuer the configuration names.
func (c Config) IssuerURL() string {
	if c.Issuer != "" {
		return c.Issuer
	}
	iss := "https://" + strings.TrimSuffix(c.Domain, "/")
	if c.AuthorizationServer != "" {
		iss += "/oauth2/" + c.AuthorizationServer
	}
	return iss
}

// New builds the connector.
func New(c Config, secret, redirectURL string, hc *http.Client) (*oidc.Connector, error) {
	if c.Domain == "" && c.Issuer == "" {
		return nil, errors.New("okta: domain is required")
	}
	return oidc.New(oidc.Config{Issuer: c.IssuerURL(), ClientID: c.ClientID, ClientSecret: secret, RedirectURL: redirectURL,
		Scopes: []string{"openid", "email", "profile", "groups"}, GroupsClaim: c.GroupsClaim, HTTPClient: hc})
}
