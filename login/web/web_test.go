package web_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/optibid/idp/login/web"
)

func TestEmbeddedPagesRender(t *testing.T) {
	tpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tpl.Render("login", map[string]string{"ID": "x", "CSRF": "<script>", "Email": `a"b`})
	if err != nil {
		t.Fatal(err)
	}
	page := string(out)
	for _, want := range []string{`<label for="email">`, `<label for="password">`, `name="viewport"`, "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Fatal("template output not escaped")
	}
	if _, err := tpl.Render("nope", nil); err == nil {
		t.Fatal("unknown page rendered")
	}
}

// A theme directory overrides any subset of the embedded files (pages,
// layout, static), the embedded ones fill in the rest, and a broken theme
// template fails at start, not at the first request.
func TestThemeDirectory(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.MkdirAll(filepath.Join(dir, "static"), 0o755)
	os.WriteFile(filepath.Join(dir, "templates", "layout.html"), []byte(`THEME {{block "content" .}}{{end}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "error.html"), []byte(`{{define "content"}}custom{{end}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "static", "logo.svg"), []byte(`<svg/>`), 0o644)
	tpl, err := web.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := tpl.Render("error", nil); string(out) != "THEME custom" {
		t.Fatalf("theme page not used: %q", out)
	}
	if out, _ := tpl.Render("login", map[string]string{}); !strings.HasPrefix(string(out), "THEME ") || !strings.Contains(string(out), `<label for="email">`) {
		t.Fatalf("a page the theme lacks does not fall back to the built-in one in the theme's layout: %.200q", out)
	}
	for _, f := range []string{"/static/logo.svg", "/static/style.css"} {
		rec := httptest.NewRecorder()
		tpl.Static().ServeHTTP(rec, httptest.NewRequest("GET", f, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d", f, rec.Code)
		}
	}
	os.WriteFile(filepath.Join(dir, "templates", "consent.html"), []byte(`{{define "content"}}{{.Broken`), 0o644)
	if _, err := web.Load(dir); err == nil {
		t.Fatal("a theme page that does not parse was accepted")
	}
	if _, err := web.Load(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing theme directory was accepted")
	}
}
