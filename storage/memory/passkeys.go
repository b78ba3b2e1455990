package memory

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/optibid/idp/storage"
)

func clonePasskey(p storage.Passkey) storage.Passkey {
	p.ID, p.PublicKey, p.AAGUID = slices.Clone(p.ID), slices.Clone(p.PublicKey), slices.Clone(p.AAGUID)
	p.Transports = slices.Clone(p.Transports)
	return p
}

func (s *Store) AddPasskey(_ context.Context, p storage.Passkey, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[p.UserID]; !ok {
		return storage.ErrNotFound
	}
	if _, ok := s.passkeys[string(p.ID)]; ok {
		return storage.ErrConflict
	}
	p = clonePasskey(p)
	p.CreatedAt, p.LastUsedAt = p.CreatedAt.UTC(), p.LastUsedAt.UTC()
	s.passkeys[string(p.ID)] = p
	s.appendAudit(ev)
	return nil
}

func (s *Store) PasskeysByUser(_ context.Context, userID string) ([]storage.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Passkey
	for _, p := range s.passkeys {
		if p.UserID == userID {
			out = append(out, clonePasskey(p))
		}
	}
	slices.SortFunc(out, func(a, b storage.Passkey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *Store) PasskeyByID(_ context.Context, id []byte) (storage.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok {
		return storage.Passkey{}, storage.ErrNotFound
	}
	return clonePasskey(p), nil
}

func (s *Store) UsePasskey(_ context.Context, id []byte, signCount uint32, backupState bool, now time.Time, cloneEv storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok {
		return storage.ErrNotFound
	}
	if signCount <= p.SignCount && (signCount != 0 || p.SignCount != 0) {
		s.appendAudit(cloneEv)
		return storage.ErrCloned
	}
	p.SignCount, p.BackupState, p.LastUsedAt = signCount, backupState, now.UTC()
	s.passkeys[string(id)] = p
	return nil
}

func (s *Store) RenamePasskey(_ context.Context, userID string, id []byte, name string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok || p.UserID != userID {
		return storage.ErrNotFound
	}
	p.Name = name
	s.passkeys[string(id)] = p
	s.appendAudit(ev)
	return nil
}

func (s *Store) DeletePasskey(_ context.Context, userID string, id []byte, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok || p.UserID != userID {
		return storage.ErrNotFound
	}
	delete(s.passkeys, string(id))
	s.appendAudit(ev)
	return nil
}

func (s *Store) CreatePasskeyChallenge(_ context.Context, c storage.PasskeyChallenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.passkeyChallenges[c.IDHash]; ok {
		return storage.ErrConflict
	}
	c.Session = slices.Clone(c.Session)
	s.passkeyChallenges[c.IDHash] = c
	return nil
}

func (s *Store) ConsumePasskeyChallenge(_ context.Context, idHash, browserHash string, now time.Time) (storage.PasskeyChallenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.passkeyChallenges[idHash]
	switch {
	case !ok || browserHash == "" || c.BrowserHash != browserHash:
		return storage.PasskeyChallenge{}, storage.ErrNotFound
	case !c.UsedAt.IsZero():
		return storage.PasskeyChallenge{}, storage.ErrAlreadyUsed
	case !now.Before(c.ExpiresAt):
		return storage.PasskeyChallenge{}, storage.ErrExpired
	}
	c.UsedAt = now
	s.passkeyChallenges[idHash] = c
	c.Session = slices.Clone(c.Session)
	return c, nil
}
