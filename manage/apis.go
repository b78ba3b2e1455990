package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/storage"
)

// ScopeTakenError means an API's scope belongs to another owner (another API
// defines it, or another owner's client registered it as its own). A
// scope has one owner, since consent pages, tokens and the token exchange
// know scopes by name.
type ScopeTakenError struct{ Msg string }

func (e *ScopeTakenError) Error() string { return e.Msg }

// ErrIdentifierTaken means the identifier is registered by another owner.
var ErrIdentifierTaken = errors.New("manage: the identifier is registered elsewhere")

// SaveAPI registers or updates an API of org (the zero Organization: a
// platform API, which only operators save). An organization names its
// APIs on its own verified domains, so it can neither squat an identifier
// another tenant or the platform will want nor dress one up as theirs.
func (s *Service) SaveAPI(ctx context.Context, by Actor, org storage.Organization, a storage.API) (storage.API, error) {
	a.OrgID = org.ID
	if err := registration.ValidateAPI(a, s.ManagementAPI); err != nil {
		var fe *registration.FieldError
		if errors.As(err, &fe) {
			return storage.API{}, Invalid(fe.Field, fe.Err.Error())
		}
		return storage.API{}, Invalid("", err.Error())
	}
	if org.ID != "" {
		domains, err := s.Store.DomainsOf(ctx, org.ID)
		if err != nil {
			return storage.API{}, fmt.Errorf("domains: %w", err)
		}
		host := registration.IdentifierHost(a.Identifier)
		if host == "" || !slices.ContainsFunc(domains, func(d storage.OrganizationDomain) bool {
			return !d.VerifiedAt.IsZero() && (host == d.Domain || strings.HasSuffix(host, "."+d.Domain))
		}) {
			return storage.API{}, Invalid("identifier", "must be an https URI on one of this organization's verified domains")
		}
	}
	if err := s.scopesFree(ctx, a); err != nil {
		return storage.API{}, err
	}
	saved, err := s.Store.UpsertAPI(ctx, a, by.Event(s.now(), EventAPISaved, About{Org: org.ID, Details: map[string]string{"api": a.Identifier}}))
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return storage.API{}, ErrIdentifierTaken
	}
	if err != nil {
		return storage.API{}, fmt.Errorf("save api: %w", err)
	}
	return saved, nil
}

// scopesFree returns a *ScopeTakenError when one of a's scopes has another
// owner.
func (s *Service) scopesFree(ctx context.Context, a storage.API) error {
	apis, err := s.Store.ListAPIs(ctx)
	if err != nil {
		return fmt.Errorf("apis: %w", err)
	}
	if err := registration.ScopeClash(a, apis); err != nil {
		return &ScopeTakenError{Msg: err.Error()}
	}
	clients, err := s.Store.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("clients: %w", err)
	}
	for _, c := range clients {
		if c.OrgID == a.OrgID {
			continue
		}
		for _, sc := range a.Scopes {
			if slices.Contains(c.Scopes, sc.Name) {
				return &ScopeTakenError{Msg: fmt.Sprintf("scopes: %q is already in use", sc.Name)}
			}
		}
	}
	return nil
}

// DeleteAPI removes org's API (the zero Organization: a platform API).
func (s *Service) DeleteAPI(ctx context.Context, by Actor, org storage.Organization, identifier string) error {
	err := s.Store.DeleteAPI(ctx, identifier, org.ID, by.Event(s.now(), EventAPIDeleted,
		About{Org: org.ID, Details: map[string]string{"api": identifier}}))
	if err != nil {
		return fmt.Errorf("delete api: %w", err)
	}
	return nil
}
