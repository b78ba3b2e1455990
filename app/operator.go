package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/storage"
)

// MustExist is the operator tools' create/--update rule, given the lookup
// of the object: create refuses an existing object (replacing it silently
// would, for a client, rotate a live secret), --update a missing one.
func MustExist(kind, id string, lookup error, update bool) error {
	switch {
	case lookup == nil && !update:
		return fmt.Errorf("%s %q exists; add --update to change it", kind, id)
	case errors.Is(lookup, storage.ErrNotFound) && update:
		return fmt.Errorf("%s %q does not exist", kind, id)
	case lookup != nil && !errors.Is(lookup, storage.ErrNotFound):
		return lookup
	}
	return nil
}

// Changes lists the fields (secrets, hashes and times left out) that
// differ between before and after, as [old, new].
func Changes(before, after any) map[string][2]any {
	var b, a map[string]any
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	_ = json.Unmarshal(bj, &b)
	_ = json.Unmarshal(aj, &a)
	out := map[string][2]any{}
	for k, v := range a {
		if strings.Contains(k, "Secret") || strings.HasSuffix(k, "At") || reflect.DeepEqual(b[k], v) {
			continue
		}
		out[k] = [2]any{b[k], v}
	}
	return out
}

// HashPassword checks pw against the configured password policy and hashes
// it for the operator's tools ("" stays "": no change).
func HashPassword(ctx context.Context, cfg *Config, pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	h := password.NewHasher(cfg.Passwords.Argon2, 1, time.Minute)
	if err := h.CheckPolicy(ctx, cfg.Accounts.PasswordPolicy, pw, false); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return h.Hash(ctx, pw)
}
