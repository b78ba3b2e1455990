package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/manage"
	adminapi "github.com/optibid/idp/manage/api"
	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// ifSet is v when the flag name was given, else nil (no change).
func ifSet[T any](given map[string]bool, name string, v *T) *T {
	if given[name] {
		return v
	}
	return nil
}

// multi makes a repeatable string flag collecting into list.
func multi(fs *flag.FlagSet, name string, list *[]string) {
	fs.Func(name, "", func(v string) error { *list = append(*list, v); return nil })
}

// admin runs management commands against the configured store. Each
// change is audited with actor "cli".
func admin(args []string, stdout, stderr io.Writer) error {
	top := app.NewFlags("admin")
	path := top.String("config", "configs/dev.yaml", "")
	if err := app.ParseFlags(top, args); err != nil {
		return err
	}
	rest := top.Args()
	if len(rest) > 1 && slices.Contains([]string{"help", "-h", "-help", "--help"}, rest[1]) {
		return app.HelpRequest("admin " + rest[0])
	} else if len(rest) < 2 {
		return app.UsageError{Cmd: "admin " + strings.Join(rest, " "), Err: errors.New("admin: which command?")}
	}
	ctx := context.Background()
	op := &app.Admin{ConfigPath: *path}
	defer op.Close()
	fs := app.NewFlags("admin " + rest[0] + " " + rest[1])
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	switch rest[0] + " " + rest[1] {
	case "features list", "features set", "templates list", "templates apply":
		return adminFeatures(ctx, op, fs, rest[0]+" "+rest[1], rest[2:], stdout)
	case "org list", "user list", "client list", "connection list":
		return op.List(ctx, fs, rest[0], rest[2:], stdout, stderr)
	case "org create":
		slug, name, mfaPolicy, plan := fs.String("slug", "", ""), fs.String("name", "", ""), fs.String("mfa", "", ""), fs.String("plan", "", "")
		verified, update := fs.Bool("require-verified-email", false, ""), fs.Bool("update", false, "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		before, err := op.Store.OrganizationBySlug(ctx, *slug)
		if err := app.MustExist("organization", *slug, err, *update); err != nil {
			return fmt.Errorf("admin org create: %w", err)
		}
		var o storage.Organization
		if *update { // only what the flags name changes
			given := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
			ch := manage.OrgChange{Name: ifSet(given, "name", name), MFA: ifSet(given, "mfa", mfaPolicy), Plan: ifSet(given, "plan", plan),
				RequireVerifiedEmail: ifSet(given, "require-verified-email", verified)}
			o, err = op.Rules.UpdateOrganization(ctx, manage.CLI, before, ch)
		} else {
			o, err = op.Rules.CreatePlatformOrganization(ctx, manage.CLI, manage.OrgSpec{Slug: *slug, Name: *name, Plan: *plan, MFA: *mfaPolicy,
				RequireVerifiedEmail: *verified})
		}
		if err != nil {
			return fmt.Errorf("admin org create: %w", err)
		}
		return out.Encode(map[string]any{"id": o.ID, "slug": o.Slug, "name": o.Name, "mfa": o.MFAPolicy, "plan": o.Plan,
			"require_verified_email": o.RequireVerifiedEmail, "changed": app.Changes(before, o)})
	case "user create":
		email, name, org, role := fs.String("email", "", ""), fs.String("name", "", ""), fs.String("org", "", ""), fs.String("role", "member", "")
		pwEnv, update := fs.String("password-env", "", ""), fs.Bool("update", false, "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		u, err := op.Store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(*email)))
		if err := app.MustExist("user", *email, err, *update); err != nil {
			return fmt.Errorf("admin user create: %w", err)
		}
		pw := os.Getenv(*pwEnv)
		if *pwEnv == "" && !*update {
			line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
			pw = strings.TrimRight(line, "\r\n")
		}
		if pw == "" && !*update {
			return errors.New("admin user create: give the password on stdin or with --password-env")
		}
		hash, err := app.HashPassword(ctx, op.Config, pw)
		if err != nil {
			return fmt.Errorf("admin user create: %w", err)
		}
		if *update {
			err = op.Rules.UpdateUser(ctx, manage.CLI, u, *name, hash)
		} else {
			u, err = op.Rules.CreateUser(ctx, manage.CLI, *email, *name, hash)
		}
		if err != nil {
			return fmt.Errorf("admin user create: %w", err)
		}
		if *org != "" {
			o, err := op.Rules.Organization(ctx, *org)
			if err == nil {
				err = op.Rules.AddMember(ctx, manage.CLI, o, u.ID, *role)
			}
			if err != nil {
				return fmt.Errorf("admin user create: %w", err)
			}
		}
		return out.Encode(map[string]any{"id": u.ID, "email": u.Email, "name": u.Name})
	case "user platform-admin":
		email, revoke := fs.String("email", "", ""), fs.Bool("revoke", false, "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		u, err := op.Store.UserByEmail(ctx, strings.ToLower(*email))
		if err != nil {
			return fmt.Errorf("admin user platform-admin: user %q: %w", *email, err)
		}
		if err := op.Rules.SetPlatformAdmin(ctx, manage.CLI, u.ID, !*revoke); err != nil {
			return err
		}
		return out.Encode(map[string]any{"id": u.ID, "email": u.Email, "platform_admin": !*revoke})
	case "user export", "user erase":
		email, confirm := fs.String("email", "", ""), fs.String("confirm", "", "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		u, err := op.Store.UserByEmail(ctx, strings.ToLower(*email))
		if err != nil {
			return fmt.Errorf("admin %s: user %q: %w", strings.Join(rest[:2], " "), *email, err)
		}
		if rest[1] == "export" {
			doc, err := op.Rules.ExportUser(ctx, manage.CLI, u.ID)
			if err != nil {
				return err
			}
			return out.Encode(doc)
		}
		if !strings.EqualFold(*confirm, u.Email) {
			return errors.New("admin user erase: repeat the email with --confirm to erase the account")
		}
		pseudonym, err := op.Rules.EraseUser(ctx, manage.CLI, u.ID, "operator")
		if err != nil {
			return fmt.Errorf("admin user erase: %w", err)
		}
		return out.Encode(map[string]any{"erased": true, "pseudonym": pseudonym})
	case "audit export":
		org, typ, since, limit := fs.String("org", "", ""), fs.String("type", "", ""), fs.String("since", "", ""), fs.Int("limit", 1000, "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		f := storage.AuditFilter{Type: *typ, Limit: *limit}
		if *since != "" {
			var err error
			if f.Since, err = time.Parse(time.RFC3339, *since); err != nil {
				return fmt.Errorf("admin audit export: --since: %w", err)
			}
		}
		if *org != "" {
			o, err := op.Rules.Organization(ctx, *org)
			if err != nil {
				return fmt.Errorf("admin audit export: %w", err)
			}
			f.OrgID = o.ID
		}
		evs, err := op.Store.ListAudit(ctx, f)
		if err != nil {
			return err
		}
		lines := json.NewEncoder(stdout)
		for _, ev := range evs {
			if err := lines.Encode(adminapi.ViewAudit(ev)); err != nil {
				return err
			}
		}
		return nil
	case "audit verify": // the report as JSON; an error (exit 1) when a chain is broken or --against's heads are gone
		against := fs.String("against", "", "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		return op.Rules.VerifyAuditAgainst(ctx, *against, out.Encode)
	case "client create":
		id, name, alg := fs.String("id", "", ""), fs.String("name", "", ""), fs.String("alg", "", "")
		public, consent := fs.Bool("public", false, ""), fs.Bool("consent", false, "")
		requireMFA, requireVerified := fs.Bool("require-mfa", false, ""), fs.Bool("require-verified-email", false, "")
		firstParty := fs.Bool("first-party", false, "")
		defaultAPI := fs.String("default-api", "", "")
		var redirects, logouts, grants, scopes, apis, actsFor, origins []string
		multi(fs, "api", &apis)
		multi(fs, "acts-for", &actsFor)
		multi(fs, "origin", &origins)
		multi(fs, "redirect-uri", &redirects)
		multi(fs, "post-logout-redirect-uri", &logouts)
		multi(fs, "grant-type", &grants)
		multi(fs, "scope", &scopes)
		update := fs.Bool("update", false, "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		spec := manage.ClientSpec{ID: *id, Name: *name, Public: *public,
			RedirectURIs: redirects, PostLogoutRedirectURIs: logouts, GrantTypes: grants, Scopes: scopes, RequireConsent: *consent,
			IDTokenSignedAlg: *alg, RequireMFA: *requireMFA, RequireVerifiedEmail: *requireVerified, FirstParty: *firstParty,
			APIs: apis, DefaultAPI: *defaultAPI, ActsFor: actsFor, AllowedOrigins: origins}
		if *update {
			before, after, err := op.Rules.UpdatePlatformClient(ctx, manage.CLI, spec)
			if err != nil {
				return fmt.Errorf("admin client create --update: %w", err)
			}
			return out.Encode(map[string]any{"id": after.ID, "changed": app.Changes(before, after)})
		}
		c, secret, err := op.Rules.CreatePlatformClient(ctx, manage.CLI, spec)
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("admin client create: client %q exists; add --update to change it (its secret changes only with 'client rotate')", *id)
		}
		if err != nil {
			return fmt.Errorf("admin client create: %w", err)
		}
		res := map[string]any{"id": c.ID, "name": c.Name, "public": *public, "redirect_uris": c.RedirectURIs, "grant_types": c.GrantTypes}
		if secret != "" {
			res["secret"] = secret // shown once; only its hash is stored
		}
		return out.Encode(res)
	case "client rotate":
		id := fs.String("id", "", "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		c, secret, err := op.Rules.RotateClientSecret(ctx, manage.CLI, storage.Organization{}, *id)
		if err != nil {
			return fmt.Errorf("admin client rotate: %w", err)
		}
		return out.Encode(map[string]any{"id": c.ID, "secret": secret}) // shown once
	case "api list":
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		list, err := op.Store.ListAPIs(ctx)
		if err != nil {
			return err
		}
		views := make([]any, 0, len(list))
		for _, a := range list {
			views = append(views, adminapi.ViewAPI(a))
		}
		return out.Encode(views)
	case "api delete", "api create":
		identifier, name := fs.String("identifier", "", ""), fs.String("name", "", "")
		ttl, alg, requireGrant := fs.Duration("ttl", 0, ""), fs.String("alg", "", ""), fs.Bool("require-grant", false, "")
		var scopes, claims []string
		multi(fs, "scope", &scopes)
		multi(fs, "claim", &claims)
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		if rest[1] == "delete" {
			if err := op.Rules.DeleteAPI(ctx, manage.CLI, storage.Organization{}, *identifier); err != nil {
				return fmt.Errorf("admin api delete: %w", err)
			}
			return out.Encode(map[string]any{"deleted": *identifier})
		}
		a := storage.API{Identifier: *identifier, Name: *name, AccessTokenTTL: *ttl, SigningAlg: *alg, Claims: claims, RequireGrant: *requireGrant}
		for _, sc := range scopes {
			n, d, _ := strings.Cut(sc, "=")
			a.Scopes = append(a.Scopes, storage.APIScope{Name: n, Description: d})
		}
		saved, err := op.Rules.SaveAPI(ctx, manage.CLI, storage.Organization{}, a)
		if err != nil {
			return fmt.Errorf("admin api create: %w", err)
		}
		return out.Encode(map[string]any{"identifier": saved.Identifier, "name": saved.Name, "scopes": saved.Scopes})
	case "keys rotate":
		alg := fs.String("alg", "", "")
		if err := op.Open(ctx, fs, rest[2:]); err != nil {
			return err
		}
		kids, err := app.RotateKeys(ctx, op.Config, op.Store, *alg)
		if err != nil {
			return err
		}
		return out.Encode(map[string]any{"rotated": *alg, "published": kids})
	}
	return app.UsageError{Cmd: "admin " + rest[0], Err: fmt.Errorf("unknown admin command %q", rest[0]+" "+rest[1])}
}

// adminFeatures runs the features and templates commands. Changes go
// through the same rules, change log and audit as the management API,
// with actor "cli".
func adminFeatures(ctx context.Context, op *app.Admin, fs *flag.FlagSet, cmd string, args []string, stdout io.Writer) error {
	org, feature, template := fs.String("org", "", ""), fs.String("feature", "", ""), fs.String("template", "", "")
	enable, disable, cascade := fs.Bool("enable", false, ""), fs.Bool("disable", false, ""), fs.Bool("cascade", false, "")
	config, table := fs.String("config", "", ""), fs.Bool("table", false, "")
	if err := op.Open(ctx, fs, args); err != nil {
		return err
	}
	rules := op.Rules
	var o storage.Organization
	var err error
	if *org != "" {
		if o, err = rules.Organization(ctx, *org); err != nil {
			return fmt.Errorf("admin %s: %w", cmd, err)
		}
	}
	switch cmd {
	case "features list":
		list, err := rules.Features(ctx, o)
		rows := [][]string{{"KEY", "NAME", "PLANS", "REQUIRES", "CONFLICTS", "ENABLED"}}
		for _, f := range list {
			state := "-"
			if f.Enabled != nil {
				state = fmt.Sprint(*f.Enabled)
			}
			rows = append(rows, []string{f.Key, f.Name, strings.Join(f.Plans, ","), strings.Join(f.Requires, ","), strings.Join(f.Conflicts, ","), state})
		}
		return errors.Join(err, app.PrintOut(stdout, *table, rows, list))
	case "templates list":
		list, err := rules.Templates(ctx)
		rows := [][]string{{"ID", "NAME", "FEATURES"}}
		for _, t := range list {
			rows = append(rows, []string{t.ID, t.Name, strings.Join(slices.Sorted(maps.Keys(t.Features)), ",")})
		}
		return errors.Join(err, app.PrintOut(stdout, *table, rows, list))
	case "features set":
		if o.ID == "" || *feature == "" || *enable == *disable {
			return errors.New("admin features set: --org, --feature and one of --enable or --disable are required")
		}
		ch := entitlements.Change{Key: *feature, Enabled: *enable}
		if *config != "" {
			if err := json.Unmarshal([]byte(*config), &ch.Config); err != nil {
				return fmt.Errorf("admin features set: --config must be a JSON object: %w", err)
			}
		}
		err = rules.ChangeFeature(ctx, o, manage.CLI, ch, *cascade) // the CLI is the operator's
	case "templates apply":
		if o.ID == "" || *template == "" {
			return errors.New("admin templates apply: --org and --template are required")
		}
		err = rules.ApplyTemplate(ctx, o, manage.CLI, *template)
	}
	if err != nil {
		return fmt.Errorf("admin %s: %w", cmd, err)
	}
	eff, err := rules.Effective(ctx, o)
	if err != nil {
		return err
	}
	return app.PrintOut(stdout, false, nil, map[string]any{"org": o.Slug, "entitlements": entitlements.Claim(eff)})
}
