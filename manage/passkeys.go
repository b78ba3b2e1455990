package manage

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// PasskeyNameMax is the longest label a passkey may have, in characters.
const PasskeyNameMax = 100

// PasskeyName is the rule for a passkey's label: trimmed, control
// characters removed, at most PasskeyNameMax characters. An empty label
// becomes fallback (say, "Passkey" and the date it was added).
func PasskeyName(name, fallback string) (string, error) {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		name = fallback
	}
	if utf8.RuneCountInString(name) > PasskeyNameMax {
		return "", Invalid("name", "Use at most 100 characters for the passkey's name.")
	}
	return name, nil
}
