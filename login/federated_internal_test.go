package login

import "testing"

// An upstream's email is taken only as a plain ASCII address, in lower
// case: look-alikes of an existing address are no address at all.
func TestPlainEmail(t *testing.T) {
	for raw, want := range map[string]string{
		"Ada@Acme.Example":            "ada@acme.example",
		" demo@optibid.example":       "",
		"demo@optibid.example.":       "",
		"demo@optibid.example\u200b":  "",
		"Demo <demo@optibid.example>": "",
		"dеmo@optibid.example":        "", // Cyrillic е
		"demo@optibid.example ":       "",
		"":                            "",
	} {
		if got := plainEmail(raw); got != want {
			t.Errorf("plainEmail(%q) = %q, want %q", raw, got, want)
		}
	}
}
