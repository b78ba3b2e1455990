package manage

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/optibid/idp/storage"
)

// MaxLogoBytes bounds a logo (decoded): it travels in every branded
// sign-in page.
const MaxLogoBytes = 48 << 10

// MinContrast is WCAG 2's AA ratio for normal text: the brand colour is
// both button background behind white text and link text on white.
const MinContrast = 4.5

var (
	colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	logoPattern  = regexp.MustCompile(`^data:image/(png|jpeg|webp|svg\+xml);base64,([A-Za-z0-9+/]+={0,2})$`)
)

// CheckBranding applies the branding rules and normalizes b: a display
// name of at most 100 characters, a logo given as a base64 data URL of a
// PNG, JPEG, WebP or SVG image (at most MaxLogoBytes; shown in an <img>,
// where an SVG's scripts do not run), a #rrggbb colour with at least
// MinContrast against white, and an https or mailto support link.
func CheckBranding(b *storage.Branding) error {
	var es ValidationErrors
	b.DisplayName = strings.TrimSpace(b.DisplayName)
	if utf8.RuneCountInString(b.DisplayName) > 100 || strings.ContainsFunc(b.DisplayName, func(r rune) bool { return r < 0x20 }) {
		es = append(es, &ValidationError{"branding.display_name", "must be at most 100 characters on one line"})
	}
	b.Logo = strings.TrimSpace(b.Logo)
	if b.Logo != "" {
		m := logoPattern.FindStringSubmatch(b.Logo)
		if m == nil {
			es = append(es, &ValidationError{"branding.logo", "must be a data URL of a PNG, JPEG, WebP or SVG image (data:image/png;base64,…)"})
		} else if raw, err := base64.StdEncoding.DecodeString(m[2]); err != nil || len(raw) > MaxLogoBytes {
			es = append(es, &ValidationError{"branding.logo", fmt.Sprintf("must be valid base64 of at most %d KiB", MaxLogoBytes>>10)})
		}
	}
	b.Color = strings.ToLower(strings.TrimSpace(b.Color))
	if b.Color != "" {
		if !colorPattern.MatchString(b.Color) {
			es = append(es, &ValidationError{"branding.color", "must be a colour such as #0b6e4f"})
		} else if c := Contrast(b.Color, "#ffffff"); c < MinContrast {
			es = append(es, &ValidationError{"branding.color", fmt.Sprintf("has a contrast of %.1f:1 with white; buttons and links need at least %.1f:1 (WCAG AA): choose a darker colour", c, MinContrast)})
		}
	}
	b.SupportURL = strings.TrimSpace(b.SupportURL)
	if b.SupportURL != "" {
		u, err := url.Parse(b.SupportURL)
		if err != nil || len(b.SupportURL) > 500 || !(u.Scheme == "https" && u.Host != "" || u.Scheme == "mailto" && u.Opaque != "") {
			es = append(es, &ValidationError{"branding.support_url", "must be an https link or a mailto: address"})
		}
	}
	return es.Err()
}

// Contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func Contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2's relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(1) + 0.7152*ch(3) + 0.0722*ch(5)
}

// Darker is the colour scaled towards black by f (0–1): the hover shade of
// a brand colour.
func Darker(hex string, f float64) string {
	out := "#"
	for i := 1; i < 7; i += 2 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		out += fmt.Sprintf("%02x", int(float64(v)*(1-f)))
	}
	return out
}
