package web_test

import (
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

// A theme directory replaces the embedded files; a theme missing a page
// fails at start, not at the first request.
func TestThemeDirectory(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.MkdirAll(filepath.Join(dir, "static"), 0o755)
	os.WriteFile(filepath.Join(dir, "templates", "layout.html"), []byte(`THEME {{block "content" .}}{{end}}`), 0o644)
	for _, p := range web.Pages[:len(web.Pages)-1] {
		os.WriteFile(filepath.Join(dir, "templates", p+".html"), []byte(`{{define "content"}}`+p+`{{end}}`), 0o644)
	}
	if _, err := web.Load(dir); err == nil {
		t.Fatal("theme without the error page accepted")
	}
	last := web.Pages[len(web.Pages)-1]
	os.WriteFile(filepath.Join(dir, "templates", last+".html"), []byte(`{{define "content"}}custom{{end}}`), 0o644)
	tpl, err := web.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := tpl.Render(last, nil)
	if string(out) != "THEME custom" {
		t.Fatalf("theme not used: %q", out)
	}
}
