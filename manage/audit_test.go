package manage_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/optibid/idp/manage"
)

// TestAuditRowsComeFromTheVocabulary keeps the audit trail's vocabulary in
// one place: outside manage and the storage packages (whose conformance
// suite writes raw rows), no code builds a storage.AuditEvent with a
// Type, and no audit builder is called with a string literal.
func TestAuditRowsComeFromTheVocabulary(t *testing.T) {
	known := map[string]bool{}
	for _, e := range manage.EventTypes() {
		if known[string(e)] {
			t.Errorf("%s is listed twice", e)
		}
		known[string(e)] = true
	}
	builders := map[string]bool{"audit": true, "auditCtx": true, "event": true, "ev": true, "Event": true}
	root := filepath.Join("..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || rel == "storage" || strings.HasPrefix(rel, "storage"+string(filepath.Separator)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || rel == filepath.Join("manage", "audit.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "AuditEvent" {
					for _, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Type" {
								t.Errorf("%s: an audit row built by hand; use manage.Actor.Event", fset.Position(n.Pos()))
							}
						}
					}
				}
			case *ast.CallExpr:
				name := ""
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if !builders[name] {
					return true
				}
				for _, a := range n.Args {
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, _ := strconv.Unquote(lit.Value); known[s] || strings.Contains(s, "_") && s == strings.ToLower(s) && !strings.ContainsAny(s, " /:") {
							t.Errorf("%s: audit type %q as a literal; use a manage.Event constant", fset.Position(lit.Pos()), s)
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
