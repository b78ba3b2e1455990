package i18n_test

import (
	"testing"
	"time"

	"github.com/optibid/idp/internal/i18n"
)

// Preferences come first, then Accept-Language; only the supported
// languages are picked, English otherwise.
func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		prefs  []string
		accept string
		want   string
	}{
		{nil, "", "en"},
		{nil, "de-DE,de;q=0.9,en;q=0.5", "de"},
		{nil, "fr-FR", "en"},
		{nil, "fr-FR, de;q=0.3", "de"},
		{nil, "!!garbage", "en"},
		{[]string{"en"}, "de", "en"},
		{[]string{"de-CH", "en"}, "en", "de"},
		{[]string{"xx-!!"}, "de", "de"},
	} {
		if got := i18n.Negotiate(c.prefs, c.accept); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %s, want %s", c.prefs, c.accept, got, c.want)
		}
	}
}

func TestSupported(t *testing.T) {
	for lang, want := range map[string]bool{"en": true, "de": true, "fr": false, "de-DE": false, "DE": false, "": false} {
		if i18n.Supported(lang) != want {
			t.Errorf("Supported(%q) = %v", lang, !want)
		}
	}
	if tags := i18n.Tags(); len(tags) != 2 || tags[0] != i18n.Default || tags[1] != "de" {
		t.Fatalf("tags: %v", tags)
	}
	for _, c := range i18n.Choices() {
		if c.Name == "" || !i18n.Supported(c.Tag) {
			t.Errorf("language %q has no name of its own", c.Tag)
		}
	}
}

// Dates and durations are written as each language writes them.
func TestDatesAndDurations(t *testing.T) {
	at := time.Date(2026, 3, 4, 15, 4, 0, 0, time.UTC)
	if got := i18n.Date("de", at, true); got != "04.03.2026, 15:04" {
		t.Errorf("German: %s", got)
	}
	if got := i18n.Date("xx", at, false); got != "4 Mar 2026" {
		t.Errorf("unknown language: %s", got)
	}
	if got := i18n.Duration("de", 2*time.Hour); got != "2 Stunden" {
		t.Errorf("German hours: %s", got)
	}
	if got := i18n.Duration("en", 90*time.Minute); got != "90 minutes" {
		t.Errorf("English minutes: %s", got)
	}
}
