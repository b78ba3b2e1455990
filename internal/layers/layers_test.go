package layers_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/optibid/idp/"

// rule: a package under from must not import a package under any of the
// forbidden prefixes (test files are not counted: a test may assemble the
// whole application).
type rule struct {
	from      string
	forbidden []string
	why       string
}

var rules = []rule{
	{"login", []string{"provider", "app", "cmd", "manage/api", "manage/console"}, "the screens and the protocol meet only in app"},
	{"provider", []string{"login", "app", "cmd", "manage/api", "manage/console"}, "the protocol and the screens meet only in app"},
	{"manage/api", []string{"provider", "login", "app", "cmd", "manage/console"}, "the management API is a front door of manage"},
	{"manage/console", []string{"provider", "login", "app", "cmd", "manage/api"}, "the console is a front door of manage"},
	{"manage", []string{"provider", "login", "app", "cmd", "manage/api", "manage/console", "apiauth"}, "manage is below every front door"},
	{"federation", []string{"manage", "provider", "login", "app", "cmd"}, "connectors are below the rules"},
	{"storage", []string{"manage", "provider", "login", "app", "cmd", "federation"}, "storage is the bottom layer"},
	{"app", []string{"cmd"}, "cmd is the top"},
	{"apiauth", []string{"manage", "provider", "login", "app", "cmd", "storage", "federation"}, "APIs import apiauth alone"},
	{"internal", []string{"manage", "provider", "login", "app", "cmd", "federation"}, "internal helpers are below everything that uses them"},
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

// TestImportsFlowDownward checks every package's imports against the
// rules above.
func TestImportsFlowDownward(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], module) {
			continue
		}
		pkg := strings.TrimPrefix(fields[0], module)
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			for _, r := range rules {
				if !under(pkg, r.from) {
					continue
				}
				// manage's front doors are under manage but are not manage.
				if r.from == "manage" && (under(pkg, "manage/api") || under(pkg, "manage/console")) {
					continue
				}
				for _, f := range r.forbidden {
					if under(imp, f) {
						t.Errorf("%s imports %s: %s", pkg, imp, r.why)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages listed; the check would prove nothing", checked)
	}
}
