// Package i18n is the one catalogue of the words people read (the sign-in
// screens, their mails, the invitation mails the management layer sends)
// and the one rule that picks a language from what a person prefers. It
// sits below login and manage, so both speak from the same files: a
// translator adds or completes a language in locales/<lang>.json alone.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The messages: the English text is each message's ID (so the code and
// the templates read as the page does), and locales/<lang>.json
// translates it. A translator adds a language by adding one file and its
// tag to Languages; the completeness tests of the screens and of every
// mail fail while a message lacks a translation.
//
//go:embed locales/*.json
var localeFS embed.FS

// Languages are the languages people are spoken to in, the default
// (English) first.
var Languages = []language.Tag{language.English, language.German}

// Default is the tag of the default language.
const Default = "en"

// matcher matches preferences against Languages; built once, never
// changed.
var matcher = language.NewMatcher(Languages)

// Supported reports whether lang is exactly the tag of one of Languages
// ("en", "de").
func Supported(lang string) bool {
	for _, t := range Languages {
		if t.String() == lang {
			return true
		}
	}
	return false
}

// names are the languages' own names, as a choice of language shows them.
var names = map[string]string{"en": "English", "de": "Deutsch"}

// Choice is one language to choose: its tag and its own name.
type Choice struct{ Tag, Name string }

// Choices lists Languages by their own names, the default first.
func Choices() []Choice {
	out := make([]Choice, len(Languages))
	for i, t := range Languages {
		out[i] = Choice{t.String(), names[t.String()]}
	}
	return out
}

// Tags lists the tags of Languages, the default first.
func Tags() []string {
	out := make([]string, len(Languages))
	for i, t := range Languages {
		out[i] = t.String()
	}
	return out
}

// Negotiate is the rule that picks a language: the first of prefs (tags,
// in order of preference; unparsable ones are skipped), then the
// Accept-Language header acceptLanguage, matched against Languages;
// Default when nothing matches.
func Negotiate(prefs []string, acceptLanguage string) string {
	var want []language.Tag
	for _, p := range prefs {
		if t, err := language.Parse(strings.TrimSpace(p)); err == nil {
			want = append(want, t)
		}
	}
	if accept, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil {
		want = append(want, accept...)
	}
	if len(want) == 0 {
		return Default
	}
	_, i, conf := matcher.Match(want...)
	if conf == language.No {
		return Default
	}
	return Languages[i].String()
}

// Translator looks messages up in the embedded catalogues.
type Translator struct {
	bundle *goi18n.Bundle
}

// New loads the embedded catalogues.
func New() (*Translator, error) {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, tag := range Languages[1:] {
		if _, err := b.LoadMessageFileFS(localeFS, "locales/"+tag.String()+".json"); err != nil {
			return nil, fmt.Errorf("i18n: locale %s: %w", tag, err)
		}
	}
	return &Translator{bundle: b}, nil
}

// T translates the message id (its English text) into lang. With data
// (one map or struct), the message's {{.Name}} placeholders are filled
// from it: only the code's and templates' own literal messages take data.
// Without data a message is never executed as a template, so text built
// from input (an address in a notice) cannot run as one. A message the
// catalogue lacks is the English text.
func (tr *Translator) T(lang, id string, data ...any) string {
	loc := goi18n.NewLocalizer(tr.bundle, lang)
	if len(data) == 0 {
		if lang == Default {
			return id
		}
		out, tag, err := loc.LocalizeWithTag(&goi18n.LocalizeConfig{MessageID: id})
		if err != nil || tag.String() != lang {
			return id
		}
		return out
	}
	out, err := loc.Localize(&goi18n.LocalizeConfig{DefaultMessage: &goi18n.Message{ID: id, Other: id}, TemplateData: data[0]})
	if err != nil {
		return id
	}
	return out
}

// Has reports whether lang's catalogue translates id (English always
// does).
func (tr *Translator) Has(lang, id string) bool {
	if lang == Default {
		return true
	}
	_, tag, err := goi18n.NewLocalizer(tr.bundle, lang).LocalizeWithTag(&goi18n.LocalizeConfig{MessageID: id})
	return err == nil && tag.String() == lang
}

// Mail is one mail's subject and body, as message IDs (the English text)
// with {{.Name}}-style placeholders filled from the mail's data.
type Mail struct{ Subject, Body string }

// Compose fills m in lang from data.
func (tr *Translator) Compose(lang string, m Mail, data map[string]any) (subject, body string) {
	return tr.T(lang, m.Subject, data), tr.T(lang, m.Body, data)
}

// Missing lists, as "lang: message", every subject and body of mails that
// a language's catalogue lacks (for the completeness tests).
func (tr *Translator) Missing(mails ...Mail) []string {
	var out []string
	for _, m := range mails {
		for _, lang := range Languages[1:] {
			for _, id := range []string{m.Subject, m.Body} {
				if !tr.Has(lang.String(), id) {
					out = append(out, lang.String()+": "+id)
				}
			}
		}
	}
	return out
}

// dateLayouts are how each language writes a date and a time (UTC).
var dateLayouts = map[string][2]string{
	"en": {"2 Jan 2006", "2 Jan 2006, 15:04"},
	"de": {"02.01.2006", "02.01.2006, 15:04"},
}

// Date writes t (in UTC) as lang writes a date, with the time of day when
// withTime.
func Date(lang string, t time.Time, withTime bool) string {
	l, ok := dateLayouts[lang]
	if !ok {
		l = dateLayouts[Default]
	}
	if withTime {
		return t.UTC().Format(l[1])
	}
	return t.UTC().Format(l[0])
}

// durationWords are each language's singular and plural of the units
// Duration says.
var durationWords = map[string]map[string][2]string{
	"en": {"minute": {"minute", "minutes"}, "hour": {"hour", "hours"}},
	"de": {"minute": {"Minute", "Minuten"}, "hour": {"Stunde", "Stunden"}},
}

// Duration says d in lang: whole hours as hours, else minutes.
func Duration(lang string, d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	if d >= time.Hour && d%time.Hour == 0 {
		n, unit = int(d/time.Hour), "hour"
	}
	w, ok := durationWords[lang]
	if !ok {
		w = durationWords[Default]
	}
	form := w[unit][1]
	if n == 1 {
		form = w[unit][0]
	}
	return strconv.Itoa(n) + " " + form
}
