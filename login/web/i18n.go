package web

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The screens' messages: the English text is each message's ID (so the
// templates read as the page does), and locales/<lang>.json translates
// it. A translator adds a language by adding one file and its tag to
// Languages; TestTranslationsComplete fails while any message of a
// template or of the sign-in code lacks a translation.
//
//go:embed locales/*.json
var localeFS embed.FS

// Languages the screens speak, the default first.
var Languages = []language.Tag{language.English, language.German}

// LangCookie holds the language a person chose on a page.
const LangCookie = "optibid_lang"

// Translator looks messages up and picks a request's language.
type Translator struct {
	bundle  *i18n.Bundle
	matcher language.Matcher
}

// NewTranslator loads the embedded catalogues.
func NewTranslator() (*Translator, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, tag := range Languages[1:] {
		if _, err := b.LoadMessageFileFS(localeFS, "locales/"+tag.String()+".json"); err != nil {
			return nil, fmt.Errorf("web: locale %s: %w", tag, err)
		}
	}
	return &Translator{bundle: b, matcher: language.NewMatcher(Languages)}, nil
}

// T translates the message id (its English text) into lang. With data
// (one map or struct), the message's {{.Name}} placeholders are filled
// from it: only the templates' own literal messages take data. Without
// data a message is never executed as a template, so text built from
// input (an address in a notice) cannot run as one. A message the
// catalogue lacks is the English text.
func (tr *Translator) T(lang, id string, data ...any) string {
	loc := i18n.NewLocalizer(tr.bundle, lang)
	if len(data) == 0 {
		if lang == Languages[0].String() {
			return id
		}
		out, tag, err := loc.LocalizeWithTag(&i18n.LocalizeConfig{MessageID: id})
		if err != nil || tag.String() != lang {
			return id
		}
		return out
	}
	out, err := loc.Localize(&i18n.LocalizeConfig{DefaultMessage: &i18n.Message{ID: id, Other: id}, TemplateData: data[0]})
	if err != nil {
		return id
	}
	return out
}

// Has reports whether lang's catalogue translates id (English always
// does).
func (tr *Translator) Has(lang, id string) bool {
	if lang == Languages[0].String() {
		return true
	}
	_, tag, err := i18n.NewLocalizer(tr.bundle, lang).LocalizeWithTag(&i18n.LocalizeConfig{MessageID: id})
	return err == nil && tag.String() == lang
}

type langKey struct{}

// WithLanguages makes pages for requests of ctx prefer tags (an auth
// request's ui_locales), ahead of the cookie and Accept-Language.
func WithLanguages(ctx context.Context, tags []string) context.Context {
	return context.WithValue(ctx, langKey{}, tags)
}

// Pick chooses the language of a page for r: the sign-in's ui_locales,
// then the language the person chose (cookie), then Accept-Language;
// English when none of them is one of Languages.
func (tr *Translator) Pick(r *http.Request) string {
	var prefs []string
	if tags, ok := r.Context().Value(langKey{}).([]string); ok {
		prefs = append(prefs, tags...)
	}
	if c, err := r.Cookie(LangCookie); err == nil {
		prefs = append(prefs, c.Value)
	}
	var want []language.Tag
	for _, p := range prefs {
		if t, err := language.Parse(strings.TrimSpace(p)); err == nil {
			want = append(want, t)
		}
	}
	if accept, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language")); err == nil {
		want = append(want, accept...)
	}
	if len(want) == 0 {
		return Languages[0].String()
	}
	_, i, conf := tr.matcher.Match(want...)
	if conf == language.No {
		return Languages[0].String()
	}
	return Languages[i].String()
}
