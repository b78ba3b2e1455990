package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
)

// helpCommands are every command line that asks for help: each command
// and every admin command (as usage.txt lists them), with -h, --help and
// help. None needs a configuration file.
func helpCommands() (cmds [][]string, want []string) {
	add := func(args []string, w string) {
		for _, h := range []string{"-h", "--help", "help"} {
			cmds, want = append(cmds, append(append([]string{}, args...), h)), append(want, w)
		}
	}
	add(nil, "commands:")
	for _, c := range []string{"serve", "migrate", "version"} {
		add([]string{c}, "  "+c)
	}
	add([]string{"admin"}, "usage: optibid-idp admin --config FILE")
	add([]string{"migrate", "up"}, "  migrate up|status")
	add([]string{"migrate", "status", "--config", "missing.yaml"}, "  migrate up|status")
	add([]string{"serve", "--config", "missing.yaml"}, "  serve")
	for _, line := range strings.Split(adminUsage, "\n") {
		if t := strings.TrimLeft(line, " "); len(line)-len(t) == 2 {
			f := strings.Fields(t)
			add([]string{"admin", "--config", "missing.yaml", f[0], f[1]}, "  "+f[0]+" "+f[1])
			add([]string{"admin", f[0]}, "  "+f[0]+" "+f[1])
		}
	}
	return cmds, want
}

// -h, --help and help print the command's usage to stdout and succeed,
// whatever the command; a command's own help holds its entry.
func TestHelpEveryCommandExitsZero(t *testing.T) {
	t.Parallel()
	cmds, want := helpCommands()
	if len(cmds) < 60 {
		t.Fatalf("only %d command lines: usage.txt not read?", len(cmds))
	}
	for i, args := range cmds {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(args, &out, &errOut)
			if err != nil || errOut.Len() > 0 {
				t.Fatalf("exit %d: %v %s", app.ExitStatus(err), err, errOut.String())
			}
			if !strings.HasPrefix(out.String(), "usage: optibid-idp") || !strings.Contains(out.String(), want[i]) {
				t.Fatalf("not the help of %v:\n%s", args, out.String())
			}
		})
	}
	// A command's help is its own: org create's holds no client command.
	var out bytes.Buffer
	if err := run([]string{"admin", "org", "create", "--help"}, &out, &out); err != nil || strings.Contains(out.String(), "client create") {
		t.Fatalf("org create --help: %v\n%s", err, out.String())
	}
}

// A mistake on the command line (an unknown command or flag) is exit
// status 2 with the usage on stderr; "help" as a flag's value is no help
// request; a failure to run is exit status 1.
func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{nil, 2, "usage: optibid-idp <command>"},
		{[]string{"frobnicate"}, 2, "usage: optibid-idp <command>"},
		{[]string{"serve", "--frob"}, 2, "  serve"},
		{[]string{"migrate", "sideways"}, 2, "  migrate"},
		{[]string{"admin"}, 2, "usage: optibid-idp admin"},
		{[]string{"admin", "org"}, 2, "  org create"},
		{[]string{"admin", "org", "frob"}, 2, "  org list"},
		{[]string{"admin", "org", "list", "--limit", "many"}, 2, "  org list"},
		{[]string{"admin", "--config", "missing.yaml", "org", "create", "--slug", "help", "--name", "-h"}, 1, "missing.yaml"},
		{[]string{"admin", "--config", "missing.yaml", "user", "list", "--search", "--help"}, 1, "missing.yaml"},
	} {
		var out, errOut bytes.Buffer
		err := run(tc.args, &out, &errOut)
		if err == nil || app.ExitStatus(err) != tc.status || !strings.Contains(err.Error(), tc.want) || out.Len() > 0 {
			t.Errorf("%v: exit %d, want %d: %v (stdout %q)", tc.args, app.ExitStatus(err), tc.status, err, out.String())
		}
	}
}
