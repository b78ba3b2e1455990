package manage

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/optibid/idp/storage"
)

// CreateUser creates an account the operator vouches for (the CLI): its
// email counts as verified; passwordHash is already hashed under the
// password policy. An existing email is storage.ErrConflict.
func (s *Service) CreateUser(ctx context.Context, by Actor, email, name, passwordHash string) (storage.User, error) {
	if !by.Operator {
		return storage.User{}, ErrOperatorOnly
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(email))
	if err != nil || addr.Name != "" || len(addr.Address) > 254 {
		return storage.User{}, Invalid("email", "must be a plain email address")
	}
	if name = strings.TrimSpace(name); utf8.RuneCountInString(name) > 200 {
		return storage.User{}, Invalid("name", "must be at most 200 characters")
	}
	email = strings.ToLower(addr.Address)
	u, err := s.Store.CreateUser(ctx, storage.User{Email: email, Name: name, PasswordHash: passwordHash, EmailVerified: true},
		by.Event(s.now(), EventUserCreated, About{Details: map[string]string{"email": email}}))
	if err != nil {
		return storage.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UpdateUser changes an account's name (when name is not empty) and
// password (when passwordHash is not empty) for the operator.
func (s *Service) UpdateUser(ctx context.Context, by Actor, u storage.User, name, passwordHash string) error {
	if !by.Operator {
		return ErrOperatorOnly
	}
	if name = strings.TrimSpace(name); name != "" && name != u.Name {
		if utf8.RuneCountInString(name) > 200 {
			return Invalid("name", "must be at most 200 characters")
		}
		if err := s.Store.UpdateProfile(ctx, u.ID, name, u.EmailVerified, by.Event(s.now(), EventUserUpdated, About{Subject: u.ID})); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
	}
	if passwordHash != "" {
		err := s.Store.SetPassword(ctx, u.ID, passwordHash, s.now(), by.Event(s.now(), EventPasswordChanged,
			About{Subject: u.ID, Details: map[string]string{"by": "operator"}}))
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
	}
	return nil
}
