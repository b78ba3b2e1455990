package apiauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Token is a verified access token. Absent optional claims leave their
// fields zero.
type Token struct {
	Issuer   string
	Subject  string // the user, or the client for client_credentials tokens
	ClientID string // the client the token was issued to
	Audience []string
	Scopes   []string // the space-separated `scope` claim, split
	JWTID    string

	Expiry    time.Time
	IssuedAt  time.Time
	NotBefore time.Time // zero without nbf
	AuthTime  time.Time // zero without auth_time

	ACR string
	AMR []string
	// Actor is act.sub: who acts on behalf of Subject in a token from a
	// token exchange (RFC 8693). Empty otherwise.
	Actor string

	// Org is the organization the token was issued for; Org.ID is empty
	// without the org claim.
	Org Org
	// Permissions are the user's permissions in Org (from its role).
	Permissions []string
	// Features are the feature keys enabled for Org (entitlements.features).
	Features []string
	// FeatureConfig is entitlements.config: per feature, its (small)
	// settings, numbers as float64.
	FeatureConfig map[string]map[string]any

	// Claims holds every claim as decoded by encoding/json, for claims
	// this struct does not name.
	Claims map[string]any
}

// Org is the `org` claim.
type Org struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// HasScope reports whether the token was granted scope.
func (t *Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// HasPermission reports whether the user holds permission p in the token's
// organization.
func (t *Token) HasPermission(p string) bool { return slices.Contains(t.Permissions, p) }

// HasFeature reports whether feature f is enabled for the token's
// organization.
func (t *Token) HasFeature(f string) bool { return slices.Contains(t.Features, f) }

// claimSet is the wire form of the claims Token names.
type claimSet struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  audience    `json:"aud"`
	Expiry    numericDate `json:"exp"`
	IssuedAt  numericDate `json:"iat"`
	NotBefore numericDate `json:"nbf"`
	AuthTime  numericDate `json:"auth_time"`
	JWTID     string      `json:"jti"`
	ClientID  string      `json:"client_id"`
	Scope     string      `json:"scope"`
	ACR       string      `json:"acr"`
	AMR       []string    `json:"amr"`
	Act       *struct {
		Sub string `json:"sub"`
	} `json:"act"`
	Org          *Org     `json:"org"`
	Permissions  []string `json:"permissions"`
	Entitlements *struct {
		Features []string                  `json:"features"`
		Config   map[string]map[string]any `json:"config"`
	} `json:"entitlements"`
}

// parseClaims decodes a verified payload. A claim of the wrong JSON type
// makes the token invalid rather than silently zero.
func parseClaims(payload []byte) (*Token, error) {
	var c claimSet
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	t := &Token{
		Issuer:      c.Issuer,
		Subject:     c.Subject,
		ClientID:    c.ClientID,
		Audience:    c.Audience,
		Scopes:      strings.Fields(c.Scope),
		JWTID:       c.JWTID,
		Expiry:      c.Expiry.Time,
		IssuedAt:    c.IssuedAt.Time,
		NotBefore:   c.NotBefore.Time,
		AuthTime:    c.AuthTime.Time,
		ACR:         c.ACR,
		AMR:         c.AMR,
		Permissions: c.Permissions,
		Claims:      raw,
	}
	if c.Act != nil {
		t.Actor = c.Act.Sub
	}
	if c.Org != nil {
		t.Org = *c.Org
	}
	if e := c.Entitlements; e != nil {
		t.Features, t.FeatureConfig = e.Features, e.Config
	}
	return t, nil
}

// audience is `aud`: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional.
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	// Beyond year 9999 or before 1970 is not a date our issuer writes.
	if err != nil || math.IsNaN(f) || f < 0 || f > 253402300799 {
		return fmt.Errorf("%s is not a NumericDate", b)
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}
