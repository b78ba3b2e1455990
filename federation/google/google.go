// Package google configures the generic OIDC connector for Google, with an
// optional Workspace hosted-domain restriction checked on the ID token's hd
// claim (never on the email, which any Google account can have).
package google

import (
	"net/http"

	"github.com/optibid/idp/federation/oidc"
)

// Issuer is Google's issuer.
const Issuer = "https://accounts.google.com"

// Config is a Google connection.
type Config struct {
	ClientID     string `json:"client_id"`
	HostedDomain string `json:"hosted_domain"` // empty: any Google account
	Issuer       string `json:"issuer"`        // overrides Google's (tests, proxies)
}

// New builds the connector.
func New(c Config, secret, redirectURL string, hc *http.Client) (*oidc.Connector, error) {
	iss := c.Issuer
	if iss == "" {
		iss = Issuer
	}
	cfg := oidc.Config{Issuer: iss, ClientID: c.ClientID, ClientSecret: secret, RedirectURL: redirectURL, HTTPClient: hc}
	if c.HostedDomain != "" {
		cfg.AuthParams = map[string]string{"hd": c.HostedDomain} // a hint for Google's account chooser only
		cfg.Check = oidc.HostedDomainCheck(c.HostedDomain)       // the rule
	}
	return oidc.New(cfg)
}
