package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/optibid/idp/login/password"
)

// CHECKS 44: 7 characters rejected; 8 with MFA, 15 without; 64 characters
// and Unicode fine; no composition rules; breached passwords rejected.
func TestPolicy(t *testing.T) {
	p := password.DefaultPolicy()
	h := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1, time.Second)
	cases := []struct {
		pw     string
		hasMFA bool
		ok     bool
	}{
		{"Zq8#vK2", true, false},                     // 7 characters
		{"vole-kiwi", true, true},                    // 9 with MFA: fine
		{"vole-kiwi", false, false},                  // password-only needs 15
		{"orbit lantern velvet", false, true},        // no digits, no symbols: fine
		{strings.Repeat("ωκεανός-", 8), false, true}, // 64 Unicode characters
		{"password1234", true, false},
		{"password1234567", false, false},
		{"qwertyuiopasdfgh", false, false},
		{"aaaaaaaaaaaaaaaa", false, false},
		{strings.Repeat("x", 129), false, false},
		{"optibid-acme-ada", false, false}, // built from the context words
		{"AdaLovelace-1984!", false, false},
		{"adalovelace1234", false, false},
		{"ada-likes-orbit-lanterns", false, true}, // a context word inside a phrase is fine
		{"nul\x00inside-the-password", false, false},
	}
	for _, tc := range cases {
		err := h.CheckPolicy(context.Background(), p, tc.pw, tc.hasMFA, "ada@acme.example", "Ada Lovelace", "optibid acme")
		if (err == nil) != tc.ok {
			t.Errorf("CheckPolicy(%q, mfa=%v) = %v, want ok=%v", tc.pw, tc.hasMFA, err, tc.ok)
		}
		var pe *password.PolicyError
		if err != nil && (!errors.Is(err, password.ErrPolicy) || !errors.As(err, &pe) || pe.Reason == "") {
			t.Errorf("error is not a PolicyError with a reason: %v", err)
		}
	}
}

// The strength estimate is bounded work: it runs inside the hashing pool
// (a full pool answers ErrBusy, as for hashing), and a maximal password
// costs about what a short one does.
func TestPolicyCheckIsBounded(t *testing.T) {
	h := password.NewHasher(password.DefaultParams(), 1, time.Millisecond)
	p := password.DefaultPolicy()
	long := strings.Repeat("correct horse battery staple ", 5)[:128]
	// Keep the only slot busy with hashes.
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Five real hashes: a hash that found the slot taken (by a policy
		// check) does not count, so the slot is held for a while however
		// slow the checks run (the race detector slows them a lot).
		for n := 0; n < 5; {
			if _, err := h.Hash(context.Background(), long); err == nil {
				n++
			}
		}
	}()
	busy := false
	for !busy {
		select {
		case <-done:
			t.Fatal("the policy check never waited for the hashing pool")
		default:
		}
		busy = errors.Is(h.CheckPolicy(context.Background(), p, long, false), password.ErrBusy)
	}
	<-done
	free := password.NewHasher(password.DefaultParams(), 1, time.Second)
	_ = free.CheckPolicy(context.Background(), p, long, false) // builds the dictionaries
	cost := func(pw string) time.Duration {
		start := time.Now()
		for range 5 {
			_ = free.CheckPolicy(context.Background(), p, pw, false)
		}
		return time.Since(start) / 5
	}
	short, max := cost(long[:40]), cost(long)
	if max > 4*short+5*time.Millisecond {
		t.Fatalf("a 128-character check costs %v, a 40-character one %v", max, short)
	}
}
