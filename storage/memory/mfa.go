package memory

import (
	"context"
	"slices"
	"time"

	"github.com/optibid/idp/storage"
)

// --- TOTP ---

func (s *Store) SaveTOTP(_ context.Context, t storage.TOTP, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[t.UserID]; !ok {
		return storage.ErrNotFound
	}
	t.SecretSealed = slices.Clone(t.SecretSealed)
	s.totp[t.UserID] = t
	s.appendAudit(ev)
	return nil
}

func (s *Store) TOTPByUser(_ context.Context, userID string) (storage.TOTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return t, storage.ErrNotFound
	}
	t.SecretSealed = slices.Clone(t.SecretSealed)
	return t, nil
}

func (s *Store) ConfirmTOTP(_ context.Context, userID string, step int64, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return storage.ErrNotFound
	}
	t.ConfirmedAt, t.LastStep = now, max(t.LastStep, step)
	s.totp[userID] = t
	s.appendAudit(ev)
	return nil
}

func (s *Store) UseTOTPStep(_ context.Context, userID string, step int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return storage.ErrNotFound
	}
	if step <= t.LastStep {
		return storage.ErrAlreadyUsed
	}
	t.LastStep = step
	s.totp[userID] = t
	return nil
}

func (s *Store) DeleteTOTP(_ context.Context, userID string, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.totp[userID]; !ok {
		return storage.ErrNotFound
	}
	delete(s.totp, userID)
	s.appendAudit(ev)
	return nil
}

// --- Backup codes ---

func (s *Store) ReplaceBackupCodes(_ context.Context, userID string, hashes []string, _ time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return storage.ErrNotFound
	}
	set := make(map[string]time.Time, len(hashes))
	for _, h := range hashes {
		set[h] = time.Time{}
	}
	s.backupCodes[userID] = set
	s.appendAudit(ev)
	return nil
}

func (s *Store) UseBackupCode(_ context.Context, userID, hash string, now time.Time, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	used, ok := s.backupCodes[userID][hash]
	if !ok || !used.IsZero() {
		return storage.ErrNotFound
	}
	s.backupCodes[userID][hash] = now
	s.appendAudit(ev)
	return nil
}

func (s *Store) BackupCodesRemaining(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, used := range s.backupCodes[userID] {
		if used.IsZero() {
			n++
		}
	}
	return n, nil
}

// --- OTP challenges ---

func (s *Store) CreateOTPChallenge(_ context.Context, c storage.OTPChallenge, ev storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[c.UserID]; !ok {
		return storage.ErrNotFound
	}
	s.otp[c.ID] = c
	s.appendAudit(ev)
	return nil
}

func (s *Store) VerifyOTPChallenge(_ context.Context, id, authRequestID, codeHash string, maxAttempts int, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.otp[id]
	switch {
	case !ok || c.AuthRequestID != authRequestID:
		return storage.ErrNotFound
	case !c.UsedAt.IsZero() || c.Attempts >= maxAttempts:
		return storage.ErrAlreadyUsed
	case !now.Before(c.ExpiresAt):
		return storage.ErrExpired
	case c.CodeHash != codeHash:
		c.Attempts++
		s.otp[id] = c
		return storage.ErrMismatch
	}
	c.UsedAt = now
	s.otp[id] = c
	return nil
}

func (s *Store) CountOTPChallenges(_ context.Context, userID string, since time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.otp {
		if c.UserID == userID && !c.CreatedAt.Before(since) {
			n++
		}
	}
	return n, nil
}
