// Package zxcvbn is github.com/trustelem/zxcvbn v1.0.1, the Go port of
// Dropbox's zxcvbn 4.4.2 password strength estimator, changed in one way:
// its frequency dictionaries are built when an [Estimator] is made, not
// when the package is initialised. Upstream builds them in package
// variables, so every process that links it holds about 8 MB of live heap
// from its start (and, with the collector's pacing, more in resident
// memory), although only setting a password uses them. Without them a
// sign-in replica fell from 70 to 59 MB, under the 64 MiB target
// (docs/benchmarks.md, "Memory: every scenario under 64 MiB"); the
// password hasher now builds an Estimator when a password is checked and
// lets it go with the hashing pool's idle memory.
//
// Everything else is upstream's code, unchanged but for gofmt, the
// plumbing of the dictionaries (Omnimatch and the repeat matcher take
// them as an argument; the frequency lists are returned by a function),
// and the attack-time estimates left out but for their score. Upstream's
// tests are not copied: ours check the scores, guesses and match patterns
// against upstream's reference output (testdata/output.json) and against
// upstream itself. Upstream's licence is in LICENSE.
package zxcvbn

import (
	"github.com/optibid/idp/login/password/internal/zxcvbn/match"
	"time"
	"unicode/utf8"

	"github.com/optibid/idp/login/password/internal/zxcvbn/matching"
	"github.com/optibid/idp/login/password/internal/zxcvbn/scoring"
)

type Result struct {
	Guesses  float64
	Sequence []*match.Match
	Score    int
	CalcTime float64
}

// Estimator holds the dictionaries PasswordStrength matches against.
type Estimator struct{ dicts matching.Dictionaries }

// NewEstimator builds the dictionaries: about 20 ms, 11 MB allocated and
// 8 MB kept.
func NewEstimator() *Estimator { return &Estimator{matching.LoadDictionaries()} }

func (e *Estimator) PasswordStrength(password string, userInputs []string) Result {
	start := time.Now()
	var result Result
	if !utf8.ValidString(password) {
		// Do not evaluate passwords containing invalid utf8
		// => those will be reported as weak passwords
		return result
	}
	matches := matching.Omnimatch(e.dicts, password, userInputs)
	seq := scoring.MostGuessableMatchSequence(password, matches, false)
	end := time.Now()
	calcTime := end.Nanosecond() - start.Nanosecond()
	result.CalcTime = round(float64(calcTime)*time.Nanosecond.Seconds(), .5, 3)
	result.Sequence = seq.Sequence
	result.Guesses = seq.Guesses
	result.Score = guessesToScore(seq.Guesses)
	return result
}
