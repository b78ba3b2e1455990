package postgres

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/optibid/idp/storage"
)

// declaredSentinels parses package storage's source and returns the message
// of every package-level Err variable, by name. A sentinel must be declared
// as errors.New("literal"), so that it can be matched without reflection.
func declaredSentinels(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join("..", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "storage" {
			t.Fatalf("%s: package %s, want storage", p, f.Name.Name)
		}
		files = append(files, f)
	}
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Err") {
						continue
					}
					msg, ok := errorsNewLiteral(vs, i)
					if !ok {
						t.Fatalf("storage.%s (%s) is not declared as errors.New(\"…\"): extend this test", name.Name, fset.Position(name.Pos()))
					}
					out[name.Name] = msg
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no Err variables found in package storage")
	}
	return out
}

func errorsNewLiteral(vs *ast.ValueSpec, i int) (string, bool) {
	if i >= len(vs.Values) {
		return "", false
	}
	call, ok := vs.Values[i].(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "New" {
		return "", false
	}
	if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "errors" {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	msg, err := strconv.Unquote(lit.Value)
	return msg, err == nil
}

// TestSentinelsListed: every Err variable of package storage is in
// storage.Sentinels, so a new sentinel cannot be forgotten by translate.
func TestSentinelsListed(t *testing.T) {
	declared := declaredSentinels(t)
	listed := map[string]error{}
	for _, s := range storage.Sentinels() {
		if _, dup := listed[s.Error()]; dup {
			t.Fatalf("storage.Sentinels lists %q twice (or two sentinels share a message)", s)
		}
		listed[s.Error()] = s
	}
	for name, msg := range declared {
		if _, ok := listed[msg]; !ok {
			t.Errorf("storage.%s (%q) is missing from storage.Sentinels", name, msg)
		}
	}
	if len(listed) != len(declared) {
		t.Errorf("storage.Sentinels has %d errors, package storage declares %d Err variables", len(listed), len(declared))
	}
}

// TestTranslatePassesSentinels: a sentinel, bare or wrapped, comes out of
// translate still matching itself, and is not turned into ErrUnavailable.
func TestTranslatePassesSentinels(t *testing.T) {
	for _, sentinel := range storage.Sentinels() {
		for _, err := range []error{sentinel, fmt.Errorf("postgres: in a transaction: %w", sentinel)} {
			got := translate(err)
			if !errors.Is(got, sentinel) {
				t.Errorf("translate(%q) = %q: lost the sentinel", err, got)
			}
			if sentinel != storage.ErrUnavailable && errors.Is(got, storage.ErrUnavailable) {
				t.Errorf("translate(%q) = %q: a sentinel became ErrUnavailable", err, got)
			}
			if got != err {
				t.Errorf("translate(%q) = %q: want it unchanged", err, got)
			}
		}
	}
	if !storage.IsSentinel(fmt.Errorf("x: %w", storage.ErrLocked)) || storage.IsSentinel(errors.New("storage: locked")) {
		t.Error("IsSentinel must match by identity through wrapping, never by message")
	}
}
