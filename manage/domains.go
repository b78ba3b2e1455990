package manage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/optibid/idp/storage"
)

// Resolver looks up DNS TXT records (net.Resolver in production, a map in
// tests).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// ErrNotVerified means the domain's TXT record does not hold the expected
// value (yet: DNS takes its time).
var ErrNotVerified = errors.New("manage: the domain's TXT record does not hold the expected value")

var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// NormalizeDomain is the domain-name rule: lower case, no trailing dot, a
// DNS name of at most 253 characters with a letter TLD.
func NormalizeDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	if len(d) > 253 || !domainPattern.MatchString(d) {
		return "", Invalid("domain", "must be a domain name such as example.com")
	}
	return d, nil
}

// DomainRecord is the DNS TXT record that proves control of domain for
// orgID: a name under the domain and a value keyed by the server, bound to
// both, so it cannot be reused for another organization or domain.
func (s *Service) DomainRecord(orgID, domain string) (name, value string) {
	m := hmac.New(sha256.New, s.DomainKey)
	m.Write([]byte(orgID + "\x00" + domain))
	return "_optibid-verification." + domain, "optibid-domain-verification=" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:32]
}

// AddDomain claims domain for org (unverified). Claims of one domain by
// several organizations stand side by side, whoever verified it: a claim
// proves nothing, so it neither removes another's nor tells whether
// anyone verified the domain.
func (s *Service) AddDomain(ctx context.Context, by Actor, org storage.Organization, domain string) (storage.OrganizationDomain, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return storage.OrganizationDomain{}, err
	}
	od := storage.OrganizationDomain{OrgID: org.ID, Domain: d}
	if err := s.Store.AddDomain(ctx, od, by.Event(s.now(), EventDomainAdded, About{Org: org.ID, Details: map[string]string{"domain": d}})); err != nil {
		return storage.OrganizationDomain{}, fmt.Errorf("add domain: %w", err)
	}
	return od, nil
}

// VerifyDomain marks org's domain verified once its TXT record holds the
// expected value (ErrNotVerified otherwise); storage.ErrConflict when
// another organization verified it first. A platform operator may vouch
// for a domain verified another way (force); the audit row says so.
func (s *Service) VerifyDomain(ctx context.Context, by Actor, org storage.Organization, domain string, force bool) (storage.OrganizationDomain, error) {
	ds, err := s.Store.DomainsOf(ctx, org.ID)
	if err != nil {
		return storage.OrganizationDomain{}, fmt.Errorf("domains: %w", err)
	}
	i := slices.IndexFunc(ds, func(d storage.OrganizationDomain) bool { return d.Domain == domain })
	if i < 0 {
		return storage.OrganizationDomain{}, storage.ErrNotFound
	}
	d := ds[i]
	details := map[string]string{"domain": d.Domain}
	if force && by.Operator {
		details["forced_by_platform_admin"] = "true"
	} else {
		if s.Resolver == nil {
			return storage.OrganizationDomain{}, ErrNotVerified
		}
		name, want := s.DomainRecord(org.ID, d.Domain)
		txts, err := s.Resolver.LookupTXT(ctx, name)
		if err != nil || !slices.Contains(txts, want) {
			return storage.OrganizationDomain{}, ErrNotVerified
		}
	}
	d.VerifiedAt = s.now()
	if err := s.Store.AddDomain(ctx, d, by.Event(s.now(), EventDomainVerified, About{Org: org.ID, Details: details})); err != nil {
		return storage.OrganizationDomain{}, fmt.Errorf("verify domain: %w", err)
	}
	return d, nil
}

// RemoveDomain gives up org's domain: its members no longer join, and its
// connections no longer vouch, by that domain.
func (s *Service) RemoveDomain(ctx context.Context, by Actor, org storage.Organization, domain string) error {
	err := s.Store.RemoveDomain(ctx, org.ID, strings.ToLower(domain),
		by.Event(s.now(), EventDomainRemoved, About{Org: org.ID, Details: map[string]string{"domain": strings.ToLower(domain)}}))
	if err != nil {
		return fmt.Errorf("remove domain: %w", err)
	}
	return nil
}
