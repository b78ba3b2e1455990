package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// adminAPIs serves `admin api create|list|delete` for platform APIs, under
// the management layer's rules (as the API and bootstrap.apis).
func adminAPIs(ctx context.Context, store storage.Store, rules *manage.Service, cmd string, args []string, out *json.Encoder) error {
	fs := flag.NewFlagSet("admin api "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	identifier, name := fs.String("identifier", "", ""), fs.String("name", "", "")
	ttl, alg, requireGrant := fs.Duration("ttl", 0, ""), fs.String("alg", "", ""), fs.Bool("require-grant", false, "")
	var scopes, claims multi
	fs.Var(&scopes, "scope", "")
	fs.Var(&claims, "claim", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "list":
		list, err := store.ListAPIs(ctx)
		if err != nil {
			return err
		}
		views := make([]map[string]any, 0, len(list))
		for _, a := range list {
			views = append(views, map[string]any{"identifier": a.Identifier, "name": a.Name, "org_id": a.OrgID, "scopes": a.Scopes,
				"access_token_ttl": a.AccessTokenTTL.String(), "signing_alg": a.SigningAlg, "claims": a.Claims, "require_grant": a.RequireGrant})
		}
		return out.Encode(views)
	case "delete":
		if err := rules.DeleteAPI(ctx, manage.CLI, storage.Organization{}, *identifier); err != nil {
			return fmt.Errorf("admin api delete: %w", err)
		}
		return out.Encode(map[string]any{"deleted": *identifier})
	}
	a := app.BootstrapAPI{Identifier: *identifier, Name: *name, AccessTokenTTL: *ttl, SigningAlg: *alg, Claims: claims, RequireGrant: *requireGrant}
	for _, sc := range scopes {
		n, d, _ := strings.Cut(sc, "=")
		a.Scopes = append(a.Scopes, storage.APIScope{Name: n, Description: d})
	}
	saved, err := rules.SaveAPI(ctx, manage.CLI, storage.Organization{}, a.Stored())
	if err != nil {
		return fmt.Errorf("admin api create: %w", err)
	}
	return out.Encode(map[string]any{"identifier": saved.Identifier, "name": saved.Name, "scopes": saved.Scopes})
}

// storedAPIs lists the stored platform and organization APIs in bootstrap
// form, so that a client the CLI registers may name them.
func storedAPIs(ctx context.Context, store storage.Store) ([]app.BootstrapAPI, error) {
	list, err := store.ListAPIs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]app.BootstrapAPI, 0, len(list))
	for _, a := range list {
		out = append(out, app.BootstrapAPI{Identifier: a.Identifier, Name: a.Name, Scopes: a.Scopes, AccessTokenTTL: a.AccessTokenTTL,
			SigningAlg: a.SigningAlg, Claims: a.Claims, RequireGrant: a.RequireGrant})
	}
	return out, nil
}
