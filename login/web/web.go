// Package web holds the login screens' templates and static assets,
// embedded in the binary and overridable from a theme directory.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
)

//go:embed templates/*.html static/*
var embedded embed.FS

// Pages are the templates every deployment must have.
var Pages = []string{"login", "consent", "logout", "loggedout", "mfa", "enroll", "backupcodes", "register", "notice",
	"forgot", "reset", "account", "org", "error"}

// Templates is the parsed set of pages plus the static file server.
type Templates struct {
	pages  map[string]*template.Template
	static http.Handler
}

// Load parses every page at start, from themeDir when given (which must
// contain templates/ and static/ like the embedded set) or from the
// embedded files, and fails if one is missing.
func Load(themeDir string) (*Templates, error) {
	var fsys fs.FS = embedded
	if themeDir != "" {
		fsys = os.DirFS(themeDir)
	}
	t := &Templates{pages: map[string]*template.Template{}}
	for _, name := range Pages {
		tpl, err := template.New("layout.html").ParseFS(fsys, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		t.pages[name] = tpl
	}
	static, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static: %w", err)
	}
	t.static = http.StripPrefix("/static/", http.FileServerFS(static))
	return t, nil
}

// Render executes a page into a buffer, so a template error never leaves a
// half-written page behind.
func (t *Templates) Render(name string, data any) ([]byte, error) {
	tpl, ok := t.pages[name]
	if !ok {
		return nil, fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("web: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Static serves /static/.
func (t *Templates) Static() http.Handler { return t.static }
