package web

import (
	"context"
	"net/http"

	"github.com/optibid/idp/internal/i18n"
)

// The screens' messages come from the shared catalogue (internal/i18n,
// locales/<lang>.json there): the English text is each message's ID, so
// the templates read as the page does. TestTranslationsComplete fails
// while any message of a template or of the sign-in code lacks a
// translation.

// Languages the screens speak, the default first.
var Languages = i18n.Languages

// LangCookie holds the language a person chose on a page.
const LangCookie = "optibid_lang"

// Translator looks messages up (the shared catalogue) and picks a
// request's language.
type Translator struct{ *i18n.Translator }

// NewTranslator loads the embedded catalogues.
func NewTranslator() (*Translator, error) {
	tr, err := i18n.New()
	if err != nil {
		return nil, err
	}
	return &Translator{tr}, nil
}

type langKey struct{}

// WithLanguages makes pages for requests of ctx prefer tags (an auth
// request's ui_locales), ahead of the cookie and Accept-Language.
func WithLanguages(ctx context.Context, tags []string) context.Context {
	return context.WithValue(ctx, langKey{}, tags)
}

// Pick chooses the language of a page for r: the sign-in's ui_locales,
// then the language the person chose (cookie), then Accept-Language;
// English when none of them is one of Languages (i18n.Negotiate).
func (tr *Translator) Pick(r *http.Request) string {
	var prefs []string
	if tags, ok := r.Context().Value(langKey{}).([]string); ok {
		prefs = append(prefs, tags...)
	}
	if c, err := r.Cookie(LangCookie); err == nil {
		prefs = append(prefs, c.Value)
	}
	return i18n.Negotiate(prefs, r.Header.Get("Accept-Language"))
}
