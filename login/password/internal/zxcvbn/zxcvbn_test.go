package zxcvbn

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	upstream "github.com/trustelem/zxcvbn"

	"github.com/optibid/idp/login/password/internal/zxcvbn/scoring"
)

// TestMatchesTheReference checks every password of upstream's reference
// output (produced by Dropbox's zxcvbn 4.4.2) for the same guesses,
// score and match sequence.
func TestMatchesTheReference(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "output.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []struct {
		Password string  `json:"password"`
		Guesses  float64 `json:"guesses"`
		Score    int     `json:"score"`
		Sequence []struct {
			Pattern string `json:"pattern"`
		} `json:"sequence"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 50 {
		t.Fatalf("reference output has %d passwords", len(want))
	}
	// Dates are scored by their distance from the current year; the
	// reference output was made in 2019.
	defer func(y int) { scoring.ReferenceYear = y }(scoring.ReferenceYear)
	scoring.ReferenceYear = 2019
	e := NewEstimator()
	for _, w := range want {
		got := e.PasswordStrength(w.Password, nil)
		if got.Score != w.Score || !close(got.Guesses, w.Guesses) || len(got.Sequence) != len(w.Sequence) {
			t.Errorf("%q: score %d, guesses %g, %d matches; want %d, %g, %d", w.Password,
				got.Score, got.Guesses, len(got.Sequence), w.Score, w.Guesses, len(w.Sequence))
			continue
		}
		for i, m := range got.Sequence {
			if m.Pattern != w.Sequence[i].Pattern {
				t.Errorf("%q: match %d is %s, want %s", w.Password, i, m.Pattern, w.Sequence[i].Pattern)
			}
		}
	}
}

// TestMatchesUpstream compares the copy with upstream on passwords built
// the way people build them (words, names, years, leet, repeats, keyboard
// runs, user inputs) and on random strings, one Estimator for all: its
// dictionaries must not change from one call to the next.
func TestMatchesUpstream(t *testing.T) {
	parts := []string{"password", "Monkey", "dragon", "sunshine", "p@ssw0rd", "qwerty", "asdfgh", "zxcvbn",
		"1987", "2019", "12/03/1999", "abcabc", "aaaa", "1234", "9876", "Tr0ub4dor", "correct", "horse",
		"battery", "staple", "optibid", "Jennifer", "smith", "!", "#", "x", "Z9", "über", "Straße", "€"}
	inputs := []string{"alice@example.com", "Alice", "Example", "optibid"}
	r := rand.New(rand.NewPCG(1, 2))
	var pws []string
	for range 1500 {
		var sb strings.Builder
		for range 1 + r.IntN(4) {
			sb.WriteString(parts[r.IntN(len(parts))])
		}
		pws = append(pws, sb.String())
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*() "
	for range 500 {
		b := make([]byte, 4+r.IntN(20))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		pws = append(pws, string(b))
	}
	e := NewEstimator()
	for i, pw := range pws {
		in := inputs[:i%(len(inputs)+1)]
		got, want := e.PasswordStrength(pw, in), upstream.PasswordStrength(pw, in)
		if got.Score != want.Score || !close(got.Guesses, want.Guesses) || len(got.Sequence) != len(want.Sequence) {
			t.Errorf("%q with %q: score %d, guesses %g, %d matches; upstream %d, %g, %d", pw, in,
				got.Score, got.Guesses, len(got.Sequence), want.Score, want.Guesses, len(want.Sequence))
		}
	}
}

// TestEstimatorBuildsTheDictionaries: NewEstimator, not the package's
// initialisation, builds them (login/password checks that linking the
// package leaves the heap alone).
func TestEstimatorBuildsTheDictionaries(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e := NewEstimator()
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n < 5<<20 {
		t.Fatalf("NewEstimator allocated %d bytes; the dictionaries were built elsewhere", n)
	}
	if e.PasswordStrength("password1", nil).Score != 0 {
		t.Fatal("password1 is not the weakest")
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }
