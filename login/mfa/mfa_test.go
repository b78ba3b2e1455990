package mfa_test

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/login/mfa"
)

func box(t *testing.T) *seal.Box {
	b, err := seal.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CHECKS 51: ±1 step accepted, ±2 rejected; the matching step is returned
// so the store can refuse its reuse.
func TestTOTPWindow(t *testing.T) {
	tt := mfa.NewTOTP("OptiBid", box(t))
	e, err := tt.Enroll("u1", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(e.QRPNG)); err != nil {
		t.Fatalf("QR is not a PNG: %v", err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/OptiBid:ada@example.com?") || bytes.Contains(e.Sealed, []byte(e.Secret)) {
		t.Fatalf("url %s / secret visible in sealed form", e.URL)
	}
	now := time.Unix(1_800_000_000, 0)
	step := now.Unix() / mfa.Period
	for d, ok := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code, _ := totp.GenerateCode(e.Secret, time.Unix((step+d)*mfa.Period, 0))
		got, err := tt.Check(e.Sealed, "u1", code, now)
		if ok != (err == nil) || (ok && got != step+d) {
			t.Errorf("offset %d: step %d err %v", d, got, err)
		}
	}
	code, _ := totp.GenerateCode(e.Secret, now)
	if _, err := tt.Check(e.Sealed, "u2", code, now); err == nil {
		t.Fatal("secret sealed for u1 opened for u2")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, err := tt.Check(e.Sealed, "u1", bad, now); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// CHECKS 52: ten codes, ≥20 bits each (we use 80), hashed, normalized.
func TestBackupCodes(t *testing.T) {
	codes, hashes := mfa.NewBackupCodes()
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatal("want 10 codes")
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(strings.ReplaceAll(c, "-", "")) != 16 || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if mfa.HashBackupCode(strings.ToLower(strings.ReplaceAll(c, "-", " "))) != hashes[i] || strings.Contains(hashes[i], c) {
			t.Fatal("hash not normalized or reveals the code")
		}
	}
}

func TestOTPCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := mfa.NewOTPCode()
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("codes repeat too often: %d distinct of 200", len(seen))
	}
	if mfa.HashOTPCode("a", "123456") == mfa.HashOTPCode("b", "123456") {
		t.Fatal("code hash not bound to its challenge")
	}
}
