package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Policy is the NIST SP 800-63B password policy: length and a blocklist,
// no composition rules. Lengths count Unicode characters after NFKC
// normalization.
type Policy struct {
	// MinLength applies to accounts with a second factor (default 8).
	MinLength int `yaml:"min_length"`
	// MinLengthWithoutMFA applies to accounts protected by the password
	// alone (default 15, SP 800-63B-4).
	MinLengthWithoutMFA int `yaml:"min_length_without_mfa"`
	// MaxLength caps the length (default 128): long enough for any
	// passphrase, short enough to bound the hashing input.
	MaxLength int `yaml:"max_length"`
}

// DefaultPolicy is NIST SP 800-63B-4.
func DefaultPolicy() Policy { return Policy{MinLength: 8, MinLengthWithoutMFA: 15, MaxLength: 128} }

// PolicyError says, in words fit for the person choosing the password, why
// a password was refused.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "password: " + e.Reason }

// ErrPolicy matches every PolicyError with errors.Is.
var ErrPolicy = errors.New("password: refused by policy")

// Is lets errors.Is(err, ErrPolicy) match.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// check returns a *PolicyError when pw is unacceptable. hasMFA selects the
// minimum length; context (email, name, company) are words the password
// must not be built from; score is the strength estimator (zxcvbn's 0–4
// for a password and the words it must not guess from), which the
// Hasher builds only when a check gets that far.
func (p Policy) check(pw string, hasMFA bool, score func(pw string, words []string) int, context ...string) error {
	pw = Normalize(pw)
	n := utf8.RuneCountInString(pw)
	min := p.MinLengthWithoutMFA
	if hasMFA {
		min = p.MinLength
	}
	switch {
	case !utf8.ValidString(pw) || strings.ContainsRune(pw, 0):
		return &PolicyError{"The password contains characters that cannot be used."}
	case n < min:
		return &PolicyError{fmt.Sprintf("Use at least %d characters.", min)}
	case n > p.MaxLength:
		return &PolicyError{fmt.Sprintf("Use at most %d characters.", p.MaxLength)}
	}
	var words []string
	for _, c := range context {
		words = append(words, strings.FieldsFunc(strings.ToLower(c), func(r rune) bool { return !unicode.IsLetter(r) })...)
	}
	if builtFrom(strings.ToLower(pw), words) {
		return &PolicyError{"Do not build the password from your name, email address or company."}
	}
	// zxcvbn matches against lists of the most common passwords, names and
	// words, keyboard patterns, dates and repeats, plus the context words;
	// a guess estimate below 10^6 (score < 2) is what breach-driven
	// guessing finds first.
	// The estimator's cost grows faster than the input: it sees at most
	// the first estimateRunes characters (a strong prefix makes a strong
	// password; a weak one is refused, which errs on the safe side).
	if score(prefix(pw, estimateRunes), words) < 2 {
		return &PolicyError{"This password is too common or too easy to guess. Try a longer phrase of unrelated words."}
	}
	return nil
}

// estimateRunes bounds the strength estimator's input.
const estimateRunes = 40

func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// builtFrom reports whether the letters of pw are nothing but a sequence
// of context words (of three letters or more): "AdaLovelace-1984" for Ada
// Lovelace. Digits and punctuation around them add next to no strength.
func builtFrom(pw string, words []string) bool {
	letters := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, pw)
	if letters == "" {
		return false
	}
	// ok[i]: letters[:i] splits into context words.
	ok := make([]bool, len(letters)+1)
	ok[0] = true
	for i := range len(letters) {
		if !ok[i] {
			continue
		}
		for _, w := range words {
			if len(w) >= 3 && strings.HasPrefix(letters[i:], w) {
				ok[i+len(w)] = true
			}
		}
	}
	return ok[len(letters)]
}
