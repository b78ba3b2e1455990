package registration

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/optibid/idp/storage"
)

// apiScopeName: scope names an API may define (RFC 6749 §3.3 allows more;
// we keep them readable and free of quoting problems).
var apiScopeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$`)

// Scopes of the management API: no other API may define them.
const (
	ScopeManage     = "manage"
	ScopeManageRead = "manage:read"
)

// reservedScopes belong to OpenID Connect, the organization model and the
// management API.
var reservedScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access", "org", "entitlements",
	ScopeManage, ScopeManageRead}

// APIClaims are the organization claims an API may receive.
var APIClaims = []string{"org", "permissions", "entitlements"}

// MaxAPIScopes bounds the scopes of one API (they are listed on consent).
const MaxAPIScopes = 50

// ValidateAPI decides what may be registered as an API (resource server):
// an absolute https (or loopback http, or urn:) identifier without
// fragment, query or user info, which becomes the aud of its tokens; a
// name; readable, unique, non-reserved scope names; a token lifetime
// between one minute and a day (or the default); ES256 or RS256; and
// known organization claims. reserved is an identifier no caller may
// register (the management API's).
func ValidateAPI(a storage.API, reserved string) error {
	if err := validateAPIIdentifier(a.Identifier); err != nil {
		return fieldError("identifier", err)
	}
	if a.Identifier == reserved {
		return fieldError("identifier", errors.New("is the management API's"))
	}
	if strings.TrimSpace(a.Name) == "" || len(a.Name) > 200 {
		return fieldError("name", errors.New("must be 1 to 200 characters"))
	}
	if len(a.Scopes) > MaxAPIScopes {
		return fieldError("scopes", fmt.Errorf("at most %d", MaxAPIScopes))
	}
	seen := map[string]bool{}
	for i, s := range a.Scopes {
		switch {
		case !apiScopeName.MatchString(s.Name):
			return fieldError(fmt.Sprintf("scopes[%d].name", i), errors.New("must be 1 to 64 letters, digits or . _ : / -"))
		case slices.Contains(reservedScopes, s.Name) || strings.HasPrefix(s.Name, "org:"):
			return fieldError(fmt.Sprintf("scopes[%d].name", i), errors.New("is reserved"))
		case seen[s.Name]:
			return fieldError(fmt.Sprintf("scopes[%d].name", i), errors.New("is repeated"))
		case len(s.Description) > 200 || strings.ContainsAny(s.Description, "\r\n\x00"):
			return fieldError(fmt.Sprintf("scopes[%d].description", i), errors.New("must be one line of at most 200 characters"))
		}
		seen[s.Name] = true
	}
	if a.AccessTokenTTL != 0 && (a.AccessTokenTTL < time.Minute || a.AccessTokenTTL > 24*time.Hour) {
		return fieldError("access_token_ttl", errors.New("must be between 1m and 24h (or absent for the default)"))
	}
	if a.SigningAlg != "" && a.SigningAlg != "ES256" && a.SigningAlg != "RS256" {
		return fieldError("signing_alg", errors.New("must be ES256 or RS256"))
	}
	for i, c := range a.Claims {
		if !slices.Contains(APIClaims, c) {
			return fieldError(fmt.Sprintf("claims[%d]", i), fmt.Errorf("%q must be one of %v", c, APIClaims))
		}
	}
	return nil
}

// Identifier forms: lower-case https host (or loopback http), optional
// port, plain path segments; or a urn. One spelling per identifier, so
// that look-alikes (case, trailing slash, dot segments, escapes, a bare
// "?") cannot stand beside the real one.
var (
	httpsIdentifier = regexp.MustCompile(`^https://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$`)
	httpIdentifier  = regexp.MustCompile(`^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$`)
	urnIdentifier   = regexp.MustCompile(`^urn:[a-z0-9][a-z0-9-]{0,31}(:[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$`)
)

func validateAPIIdentifier(raw string) error {
	if len(raw) > 255 {
		return errors.New("must be at most 255 characters")
	}
	for _, seg := range strings.Split(raw, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%q must not contain dot segments", raw)
		}
	}
	if !httpsIdentifier.MatchString(raw) && !httpIdentifier.MatchString(raw) && !urnIdentifier.MatchString(raw) {
		return fmt.Errorf("%q must be https://host[:port][/path] in lower case without a trailing slash, query or escapes (http on loopback only), or a urn", raw)
	}
	if u, err := url.Parse(raw); err == nil && u.Port() != "" {
		n, err := strconv.Atoi(u.Port())
		if err != nil || n < 1 || n > 65535 || (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80) {
			return fmt.Errorf("%q: the port must be 1–65535 and not the scheme's default", raw)
		}
	}
	return nil
}

// ScopeClash reports a scope of api that another API already defines: a
// scope belongs to one API, since consent pages, tokens and the token
// exchange know scopes by name. others may include api itself (an update).
func ScopeClash(api storage.API, others []storage.API) error {
	for _, o := range others {
		if o.Identifier == api.Identifier {
			continue
		}
		for _, s := range api.Scopes {
			if slices.ContainsFunc(o.Scopes, func(x storage.APIScope) bool { return x.Name == s.Name }) {
				return fieldError("scopes", fmt.Errorf("%q is already defined by another API", s.Name))
			}
		}
	}
	return nil
}

// IdentifierHost returns the host of an https identifier ("" for others).
func IdentifierHost(identifier string) string {
	u, err := url.Parse(identifier)
	if err != nil || u.Scheme != "https" {
		return ""
	}
	return u.Hostname()
}

// ValidateOrigin decides what may be registered as a browser origin for
// CORS: scheme://host[:port] exactly, https (http on loopback only).
func ValidateOrigin(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.Contains(raw, "*") || strings.HasSuffix(raw, "/") {
		return fmt.Errorf("%q must be scheme://host[:port]", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
		return fmt.Errorf("%q: https only (http on loopback)", raw)
	}
	return nil
}

// FieldError names the field a registration rule refused.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(field string, err error) error { return &FieldError{Field: field, Err: err} }

// GrantTokenExchange is RFC 8693's grant type.
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// GrantTypes a client may be registered with.
var GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials", GrantTokenExchange}
