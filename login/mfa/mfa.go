// Package mfa holds the second factors: TOTP (RFC 6238) with one step of
// clock skew and replay protection by time step, single-use backup codes,
// and six-digit codes sent by SMS or email. It computes and checks; the
// store records which steps and codes were used, atomically.
package mfa

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"math/big"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/storage"
)

// Period is the TOTP time step.
const Period = 30

// TOTP creates and checks authenticator-app secrets, sealed at rest.
type TOTP struct {
	issuer string
	box    *seal.Box
}

// NewTOTP returns a TOTP for secrets labelled with issuer (the name shown
// in authenticator apps).
func NewTOTP(issuer string, box *seal.Box) *TOTP { return &TOTP{issuer: issuer, box: box} }

// Enrollment is a fresh secret: the sealed form for the store, and what the
// user needs to add it to an app.
type Enrollment struct {
	Sealed []byte
	Secret string // base32, shown as text
	URL    string // otpauth:// URL
	QRPNG  []byte
}

// Enroll makes a new secret for account (the user's email).
func (t *TOTP) Enroll(userID, account string) (Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: t.issuer, AccountName: account, Period: Period, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return Enrollment{}, fmt.Errorf("mfa: generate: %w", err)
	}
	return t.enrollment(key, userID)
}

// Reopen shows a pending enrollment's secret again (the sealed secret of
// an unconfirmed TOTP), so that a mistyped first code does not replace the
// secret the user has already added to their app.
func (t *TOTP) Reopen(sealed []byte, userID, account string) (Enrollment, error) {
	secret, err := t.box.Open(sealed, []byte("totp:"+userID))
	if err != nil {
		return Enrollment{}, fmt.Errorf("mfa: open secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: t.issuer, AccountName: account, Period: Period, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, Secret: mustDecodeSecret(string(secret))})
	if err != nil {
		return Enrollment{}, fmt.Errorf("mfa: key: %w", err)
	}
	return t.enrollment(key, userID)
}

// mustDecodeSecret reads a base32 secret back into its bytes (nil for a
// malformed one, which then fails to verify rather than panics).
func mustDecodeSecret(s string) []byte {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil
	}
	return b
}

func (t *TOTP) enrollment(key *otp.Key, userID string) (Enrollment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrollment{}, fmt.Errorf("mfa: qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrollment{}, fmt.Errorf("mfa: png: %w", err)
	}
	return Enrollment{Sealed: t.box.Seal([]byte(key.Secret()), []byte("totp:"+userID)), Secret: key.Secret(),
		URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ErrInvalidCode means the code matches no step in the window.
var ErrInvalidCode = errors.New("mfa: invalid code")

// Check returns the time step whose code equals code, trying the current
// step and one on either side (RFC 6238 §5.2). The caller must then record
// the step with storage.MFA.UseTOTPStep, which refuses a step already used.
func (t *TOTP) Check(sealed []byte, userID, code string, now time.Time) (int64, error) {
	secret, err := t.box.Open(sealed, []byte("totp:"+userID))
	if err != nil {
		return 0, fmt.Errorf("mfa: open secret: %w", err)
	}
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, ErrInvalidCode
	}
	step := now.Unix() / Period
	for _, d := range []int64{0, -1, 1} {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix((step+d)*Period, 0),
			totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, fmt.Errorf("mfa: code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, nil
		}
	}
	return 0, ErrInvalidCode
}

// BackupCodeCount is how many backup codes a set has.
const BackupCodeCount = 10

// NewBackupCodes returns codes to show once and the hashes to store. Each
// code carries 80 random bits (16 base32 characters), so a stored SHA-256
// cannot be reversed by brute force.
func NewBackupCodes() (codes, hashes []string) {
	for range BackupCodeCount {
		b := make([]byte, 10)
		_, _ = rand.Read(b)
		s := base32.StdEncoding.EncodeToString(b)
		code := s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
		codes = append(codes, code)
		hashes = append(hashes, HashBackupCode(code))
	}
	return codes, hashes
}

// HashBackupCode normalizes (case, dashes, spaces) and hashes a code.
func HashBackupCode(code string) string {
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	return storage.HashSecret("backup:" + c)
}

// NewOTPCode returns six uniformly random digits.
func NewOTPCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}

// HashOTPCode binds a code to its challenge, so a code from one login
// transaction cannot be checked against another's.
func HashOTPCode(challengeID, code string) string {
	return storage.HashSecret("otp:" + challengeID + ":" + strings.TrimSpace(code))
}
