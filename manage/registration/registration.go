// Package registration holds the rules for registering a relying party,
// shared by the config loader, the CLI and the management API: one place
// decides what a redirect URI may be.
package registration

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ValidateRedirectURI decides what may be registered as a redirect URI:
// https; http on a loopback address only (RFC 8252 §7.3); or a private-use
// scheme for native apps (RFC 8252 §7.1). Never javascript:, data: and
// friends, fragments, wildcards or user info (RFC 9700 §2.1, §4.1.3).
func ValidateRedirectURI(raw string) error {
	if strings.ContainsAny(raw, "*\\ \t\r\n") {
		return errors.New("must not contain wildcards, backslashes or white space")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%q is not an absolute URI", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != u.Scheme {
		return fmt.Errorf("%q: scheme must be lower case", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not contain a fragment", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain user info", raw)
	}
	switch scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", raw)
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q: http is allowed on loopback addresses only; use https", raw)
		}
	case "javascript", "data", "vbscript", "file", "blob", "about", "ftp", "ws", "wss":
		return fmt.Errorf("%q: scheme %s is not allowed", raw, scheme)
	default:
		if !strings.Contains(scheme, ".") {
			return fmt.Errorf("%q: private-use schemes must be reverse domain names (RFC 8252 §7.1)", raw)
		}
	}
	return nil
}

// IsLoopbackHost reports whether h names this machine (RFC 8252 §7.3).
func IsLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// MatchRedirectURI decides whether a redirect URI sent with a request is
// one of the registered ones: character for character, except that for a
// native (public) client's registered loopback URI (http://127.0.0.1 or
// http://[::1]) the port may differ (RFC 8252 §7.3) and nothing else: not
// the scheme, the host (no localhost for 127.0.0.1, no 127.0.0.2), user
// info, path (escaped or not), query or fragment.
func MatchRedirectURI(registered []string, got string, native bool) bool {
	for _, r := range registered {
		if r == got {
			return true
		}
		if native && stripLoopbackPort(r) != "" && stripLoopbackPort(r) == stripLoopbackPort(got) {
			return true
		}
	}
	return false
}

// stripLoopbackPort returns u without its port when u is an http loopback
// IP URI of plain form (no user info, fragment or opaque parts), else "".
func stripLoopbackPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") || u.Opaque != "" {
		return ""
	}
	host := u.Hostname()
	if host != "127.0.0.1" && host != "::1" {
		return ""
	}
	prefix := "http://" + u.Host
	if !strings.HasPrefix(raw, prefix) {
		return ""
	}
	rest := raw[len(prefix):]
	bracketed := host
	if host == "::1" {
		bracketed = "[::1]"
	}
	return "http://" + bracketed + rest
}

// SigningAlgs are the JWS algorithms we hold keys for, and so the ones a
// client or API may ask its tokens to be signed with.
var SigningAlgs = []string{"RS256", "ES256"}
