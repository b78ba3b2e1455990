// Package web holds the login screens' templates and static assets,
// embedded in the binary and overridable from a theme directory.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/optibid/idp/internal/httpx"
	"github.com/optibid/idp/internal/i18n"
)

//go:embed templates/*.html static/*
var embedded embed.FS

// Pages are the templates every deployment must have.
var Pages = []string{"login", "consent", "logout", "loggedout", "mfa", "enroll", "backupcodes", "register", "notice",
	"forgot", "reset", "account", "org", "error", "invitation", "confirm", "passkeys", "passkeymfa", "passkeyenroll"}

// Templates is the parsed set of pages, the translator and the static
// file server.
type Templates struct {
	// masters are never executed: each render runs a clone whose
	// functions speak the request's language and wear its brand
	// (html/template clones only templates that have not run).
	masters map[string]*template.Template
	tr      *Translator
	static  http.Handler
}

// placeholders declare the per-render functions for parsing: t (a
// message in the page's language), lang (its tag), brand (the
// organization's look, nil for none) and here (the page's own address,
// for the language links).
var placeholders = template.FuncMap{
	"t":     func(id string, _ ...any) string { return id },
	"lang":  func() string { return "en" },
	"brand": func() *Brand { return nil },
	"here":  func() string { return "/" },
	"when":  func(time.Time) string { return "" },
	"day":   func(time.Time) string { return "" },
}

// Load parses every page at start. A theme directory (themeDir, laid out
// like the embedded set: templates/ and static/) overrides any subset of
// the files, and the embedded ones fill in the rest; a theme file that
// does not parse stops the start, not the first request.
func Load(themeDir string) (*Templates, error) {
	var fsys fs.FS = embedded
	if themeDir != "" {
		if st, err := os.Stat(themeDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("web: theme directory %q is not a directory", themeDir)
		}
		fsys = overlay{os.DirFS(themeDir), embedded}
	}
	tr, err := NewTranslator()
	if err != nil {
		return nil, err
	}
	t := &Templates{masters: map[string]*template.Template{}, tr: tr}
	for _, name := range Pages {
		tpl, err := template.New("layout.html").Funcs(placeholders).ParseFS(fsys, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		t.masters[name] = tpl
	}
	static, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static: %w", err)
	}
	t.static = http.StripPrefix("/static/", http.FileServerFS(static))
	return t, nil
}

// overlay serves a file from top when it has it, else from base.
type overlay struct{ top, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	if f, err := o.top.Open(name); err == nil {
		return f, nil
	}
	return o.base.Open(name)
}

// Render executes a page in English, unbranded, into a buffer.
func (t *Templates) Render(name string, data any) ([]byte, error) {
	return t.execute(name, data, Languages[0].String(), nil, "/")
}

// Translator is the screens' translator (for text built in code).
func (t *Templates) Translator() *Translator { return t.tr }

// execute runs a clone of the page's master with the render's functions
// into a buffer, so a template error never leaves a half-written page.
func (t *Templates) execute(name string, data any, lang string, brand *Brand, here string) ([]byte, error) {
	master, ok := t.masters[name]
	if !ok {
		return nil, fmt.Errorf("web: no page %q", name)
	}
	tpl, err := master.Clone()
	if err != nil {
		return nil, fmt.Errorf("web: clone %s: %w", name, err)
	}
	tpl.Funcs(template.FuncMap{
		"t":     func(id string, args ...any) string { return t.tr.T(lang, id, args...) },
		"lang":  func() string { return lang },
		"brand": func() *Brand { return brand },
		"here":  func() string { return here },
		"when":  func(t time.Time) string { return i18n.Date(lang, t, true) },
		"day":   func(t time.Time) string { return i18n.Date(lang, t, false) },
	})
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("web: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Static serves /static/.
func (t *Templates) Static() http.Handler { return t.static }

// Write renders page to w with the headers every page carries (CSP, no
// caching); a template failure is logged and answered with a plain page.
func (t *Templates) Write(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var brand *Brand
	if b, ok := BrandOf(r.Context()); ok {
		brand = &b
	}
	lang := t.tr.Pick(r)
	body, err := t.execute(page, data, lang, brand, r.URL.RequestURI())
	if err != nil {
		slog.ErrorContext(r.Context(), "render page", "page", page, "error", err)
		status = http.StatusInternalServerError
		body = []byte("<!doctype html><title>Error</title><p>Something went wrong. Please try again.</p>")
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Language", lang)
	hd.Add("Vary", "Accept-Language, Cookie")
	hd.Set("Content-Security-Policy", httpx.PageCSP)
	httpx.NoStore(w)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error renders the friendly error page: fixed text, never err.Error(),
// with the request ID as the reference support asks for. The page is
// logged under that reference with why it was shown (cause: slog
// key-value pairs, e.g. "reason", "redirect_uri not registered",
// "redirect_uri", what was received), so a reference always leads to its
// cause. The provider's protocol errors that cannot go back to a client
// end here too, so every page a person sees comes from one set of
// templates.
func (t *Templates) Error(w http.ResponseWriter, r *http.Request, status int, message string, cause ...any) {
	t.ErrorNext(w, r, status, message, Next{}, cause...)
}

// Phrase is a sentence to translate with data for its placeholders:
// Text is the catalogue's ID (the English text, with {{.Name}}
// placeholders when Data is set). Names, addresses and descriptions
// that others typed go in Data, so they are never looked up or run as
// a template.
type Phrase struct {
	Text string
	Data map[string]any
}

// Say is a Phrase without data.
func Say(text string) Phrase { return Phrase{Text: text} }

// Next is the step an error page offers: a link on this site and its
// label. The zero Next is "start again from your account".
type Next struct{ Link, Text string }

// ErrorNext is Error with the next step to offer (back to the
// application when it is known, a new link, start again).
func (t *Templates) ErrorNext(w http.ResponseWriter, r *http.Request, status int, message string, next Next, cause ...any) {
	t.ErrorWith(w, r, status, message, nil, next, cause...)
}

// ErrorWith is ErrorNext for a message with placeholders ({{.Name}}):
// the message (fixed text, the catalogue's ID) is translated, then data
// fills it, so a name or an address never becomes part of the text that
// is looked up or run.
func (t *Templates) ErrorWith(w http.ResponseWriter, r *http.Request, status int, message string, data map[string]any, next Next, cause ...any) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := append([]any{"status", status, "path", httpx.Clip(r.URL.Path), "message", message}, cause...)
	slog.Log(r.Context(), level, "error page", attrs...)
	t.Write(w, r, status, "error", map[string]any{"Message": message, "Data": data, "RequestID": httpx.RequestID(r.Context()),
		"Next": next.Link, "NextText": next.Text})
}
