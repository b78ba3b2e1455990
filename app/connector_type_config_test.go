package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/app/apptest"
)

// A declared connection of an unknown type is a broken rule naming its
// key, like every other; it must not crash the check. Since the config
// reports every rule instead of the first, validateConnections goes on
// past the unknown type and calls its (nil) constructor.
func TestUnknownConnectionTypeIsAConfigError(t *testing.T) {
	cfg := apptest.Config("http://127.0.0.1:1", "memory", "")
	cfg.Federation.Connections = []app.ConnectionConfig{{ID: "corp", Type: "okta-typo", Name: "Corp", ClientID: "client"}}
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		err = cfg.Validate()
	}()
	var ce *app.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "federation.connections[0].type") {
		t.Fatalf("want a ConfigError naming federation.connections[0].type, got %v", err)
	}
}
