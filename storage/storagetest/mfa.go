package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/storage"
)

func testTOTP(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	if _, err := s.TOTPByUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no totp: %v", err)
	}
	at := now()
	must(t, s.SaveTOTP(ctx, storage.TOTP{UserID: u.ID, SecretSealed: []byte("sealed"), CreatedAt: at}, ev("totp_enrollment_started")))
	got, _ := s.TOTPByUser(ctx, u.ID)
	if !got.ConfirmedAt.IsZero() || string(got.SecretSealed) != "sealed" {
		t.Fatalf("pending totp: %+v", got)
	}
	must(t, s.ConfirmTOTP(ctx, u.ID, 100, at, ev("totp_enrolled")))
	if err := s.UseTOTPStep(ctx, u.ID, 100); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("enrollment step reused: %v", err)
	}
	race(t, func(int) error { return s.UseTOTPStep(ctx, u.ID, 101) })
	if err := s.UseTOTPStep(ctx, u.ID, 99); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("older step: %v", err)
	}
	must(t, s.UseTOTPStep(ctx, u.ID, 103))
	must(t, s.DeleteTOTP(ctx, u.ID, ev("totp_removed")))
	if _, err := s.TOTPByUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

func testBackupCodes(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	must(t, s.ReplaceBackupCodes(ctx, u.ID, []string{"h1", "h2", "h3"}, now(), ev("backup_codes_generated")))
	if n, _ := s.BackupCodesRemaining(ctx, u.ID); n != 3 {
		t.Fatalf("remaining %d", n)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.UseBackupCode(ctx, u.ID, "h2", now(), ev("backup_code_used")) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n, _ := s.BackupCodesRemaining(ctx, u.ID); wins != 1 || n != 2 {
		t.Fatalf("wins %d remaining %d", wins, n)
	}
	must(t, s.ReplaceBackupCodes(ctx, u.ID, []string{"h4"}, now(), storage.AuditEvent{}))
	if err := s.UseBackupCode(ctx, u.ID, "h1", now(), storage.AuditEvent{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("old set still usable: %v", err)
	}
	if n := auditCount(t, s, "backup_code_used"); n != 1 {
		t.Fatalf("audit rows %d", n)
	}
}

func testOTPChallenges(t *testing.T, s storage.Store) {
	u := newUser(t, s)
	at := now()
	c := storage.OTPChallenge{ID: random.ID(), AuthRequestID: "ar1", UserID: u.ID, Channel: "sms", Destination: "+41791234567",
		CodeHash: "good", CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	must(t, s.CreateOTPChallenge(ctx, c, ev("otp_sent")))
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar2", "good", 5, at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other transaction: %v", err)
	}
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar1", "bad", 5, at); !errors.Is(err, storage.ErrMismatch) {
		t.Fatalf("wrong code: %v", err)
	}
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar1", "good", 5, at.Add(6*time.Minute)); !errors.Is(err, storage.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	must(t, s.VerifyOTPChallenge(ctx, c.ID, "ar1", "good", 5, at))
	if err := s.VerifyOTPChallenge(ctx, c.ID, "ar1", "good", 5, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("reused: %v", err)
	}
	// Guesses are capped, also in parallel.
	c2 := c
	c2.ID = random.ID()
	must(t, s.CreateOTPChallenge(ctx, c2, storage.AuditEvent{}))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.VerifyOTPChallenge(ctx, c2.ID, "ar1", "bad", 5, at) }()
	}
	wg.Wait()
	if err := s.VerifyOTPChallenge(ctx, c2.ID, "ar1", "good", 5, at); !errors.Is(err, storage.ErrAlreadyUsed) {
		t.Fatalf("after 5 wrong guesses the right code must fail: %v", err)
	}
	if n, _ := s.CountOTPChallenges(ctx, u.ID, at.Add(-time.Minute)); n != 2 {
		t.Fatalf("count %d", n)
	}
}
