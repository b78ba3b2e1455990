package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/optibid/idp/app/apptest"
)

// The CLI's tests; the provider's own behaviour is tested in the packages
// that implement it, through app/apptest.
func TestMain(m *testing.M) { apptest.Main(m) }

// serve exits cleanly on SIGTERM-equivalent cancellation; run() rejects
// bad commands with one line.
func TestCommands(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "optibid-idp ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run([]string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run([]string{"migrate", "up", "--config", "../../configs/dev.yaml"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("migrate on memory: %v", err)
	}
}
