package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/internal/random"
	"github.com/optibid/idp/internal/seal"
	"github.com/optibid/idp/login/password"
	"github.com/optibid/idp/manage"
	adminapi "github.com/optibid/idp/manage/api"
	"github.com/optibid/idp/provider"
	"github.com/optibid/idp/provider/keys"
	"github.com/optibid/idp/storage"
)

const adminUsage = `usage: optibid-idp admin --config FILE <command>

  org create    --slug S --name N [--mfa off|optional|required] [--require-verified-email]
  user create   --email E --name N [--org SLUG --role owner|admin|member|viewer] (password from --password-env VAR or one line on stdin)
  client create --id ID --name N [--public] [--redirect-uri U]… [--post-logout-redirect-uri U]…
                [--grant-type G]… [--scope S]… [--consent] [--require-mfa] [--require-verified-email]
                [--alg RS256|ES256] [--first-party] [--api ID]… [--default-api ID] [--acts-for ID]…
                [--origin O]…   (prints a generated secret once)
  api create    --identifier URI --name N [--scope name=description]… [--claim org|permissions|entitlements]…
                [--ttl 10m] [--alg ES256|RS256] [--require-grant]   (creates or updates a platform API)
  api list
  api delete    --identifier URI
  user platform-admin --email E [--revoke]  grant (or withdraw) the platform-admin role
  user export   --email E                   everything stored about the user (GDPR access request), as JSON
  user erase    --email E --confirm E       erase the user (GDPR erasure); audit rows stay, pseudonymized
  audit export  [--org SLUG] [--type T] [--since RFC3339] [--limit N]   audit rows as JSON lines, newest first
  features list   [--org SLUG] [--table]  the catalogue (with the organization's state)
  features set    --org SLUG --feature K --enable|--disable [--config JSON] [--cascade]
  templates list  [--table]
  templates apply --org SLUG --template ID
  keys rotate   [--alg RS256|ES256]`

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// admin runs management commands against the configured store. Each
// change is audited with actor "cli".
func admin(args []string, stdout io.Writer) error {
	cfg, rest, err := configFlag("admin", args)
	if err != nil {
		return err
	}
	if len(rest) < 2 {
		return errors.New(adminUsage)
	}
	if cfg.Storage.Type == "memory" {
		return errors.New("admin: storage.type is memory; admin commands need the shared PostgreSQL store")
	}
	ctx := context.Background()
	store, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	rules := &manage.Service{Store: store, ManagementAPI: cfg.Issuer + provider.ManagementAPIPath}
	fs := flag.NewFlagSet("admin "+rest[0]+" "+rest[1], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	switch rest[0] + " " + rest[1] {
	case "features list", "features set", "templates list", "templates apply":
		return adminFeatures(ctx, store, rest[0]+" "+rest[1], rest[2:], stdout)
	case "org create":
		slug, name, mfaPolicy := fs.String("slug", "", ""), fs.String("name", "", ""), fs.String("mfa", "", "")
		verified := fs.Bool("require-verified-email", false, "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		b := app.Bootstrap{Organizations: []app.BootstrapOrg{{Slug: *slug, Name: *name, MFA: *mfaPolicy, RequireVerifiedEmail: *verified}}}
		if err := b.Check(cfg.Issuer); err != nil {
			return err
		}
		if err := app.ApplyBootstrap(ctx, store, nil, b, time.Now); err != nil {
			return err
		}
		o, err := store.OrganizationBySlug(ctx, *slug)
		if err != nil {
			return err
		}
		return out.Encode(map[string]any{"id": o.ID, "slug": o.Slug, "name": o.Name, "mfa": o.MFAPolicy, "require_verified_email": o.RequireVerifiedEmail})
	case "user create":
		email, name, org, role := fs.String("email", "", ""), fs.String("name", "", ""), fs.String("org", "", ""), fs.String("role", "member", "")
		pwEnv := fs.String("password-env", "", "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		pw := os.Getenv(*pwEnv)
		if *pwEnv == "" {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("admin user create: give the password on stdin or with --password-env")
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		b := app.Bootstrap{Users: []app.BootstrapUser{{Email: *email, Password: pw, Name: *name, Role: *role}}}
		if *org != "" {
			o, err := store.OrganizationBySlug(ctx, *org)
			if err != nil {
				return fmt.Errorf("admin user create: organization %q: %w", *org, err)
			}
			b.Organizations = []app.BootstrapOrg{{Slug: o.Slug, Name: o.Name}}
			b.Users[0].Organization = o.Slug
		}
		if err := b.Check(cfg.Issuer); err != nil {
			return err
		}
		h := password.NewHasher(cfg.Passwords.Argon2, 1, time.Minute)
		if err := app.ApplyBootstrap(ctx, store, h, b, time.Now); err != nil {
			return err
		}
		u, err := store.UserByEmail(ctx, *email)
		if err != nil {
			return err
		}
		return out.Encode(map[string]any{"id": u.ID, "email": u.Email, "name": u.Name})
	case "user platform-admin":
		email, revoke := fs.String("email", "", ""), fs.Bool("revoke", false, "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		u, err := store.UserByEmail(ctx, strings.ToLower(*email))
		if err != nil {
			return fmt.Errorf("admin user platform-admin: user %q: %w", *email, err)
		}
		if err := rules.SetPlatformAdmin(ctx, manage.CLI, u.ID, !*revoke); err != nil {
			return err
		}
		return out.Encode(map[string]any{"id": u.ID, "email": u.Email, "platform_admin": !*revoke})
	case "user export", "user erase":
		email, confirm := fs.String("email", "", ""), fs.String("confirm", "", "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		u, err := store.UserByEmail(ctx, strings.ToLower(*email))
		if err != nil {
			return fmt.Errorf("admin %s: user %q: %w", strings.Join(rest[:2], " "), *email, err)
		}
		if rest[1] == "export" {
			doc, err := rules.ExportUser(ctx, manage.CLI, u.ID)
			if err != nil {
				return err
			}
			return out.Encode(doc)
		}
		if !strings.EqualFold(*confirm, u.Email) {
			return errors.New("admin user erase: repeat the email with --confirm to erase the account")
		}
		pseudonym, err := rules.EraseUser(ctx, manage.CLI, u.ID, "operator")
		if err != nil {
			return fmt.Errorf("admin user erase: %w", err)
		}
		return out.Encode(map[string]any{"erased": true, "pseudonym": pseudonym})
	case "audit export":
		org, typ, since, limit := fs.String("org", "", ""), fs.String("type", "", ""), fs.String("since", "", ""), fs.Int("limit", 1000, "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		f := storage.AuditFilter{Type: *typ, Limit: *limit}
		if *since != "" {
			if f.Since, err = time.Parse(time.RFC3339, *since); err != nil {
				return fmt.Errorf("admin audit export: --since: %w", err)
			}
		}
		if *org != "" {
			o, err := store.OrganizationBySlug(ctx, *org)
			if err != nil {
				return fmt.Errorf("admin audit export: organization %q: %w", *org, err)
			}
			f.OrgID = o.ID
		}
		evs, err := store.ListAudit(ctx, f)
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
	case "client create":
		id, name, alg := fs.String("id", "", ""), fs.String("name", "", ""), fs.String("alg", "", "")
		public, consent := fs.Bool("public", false, ""), fs.Bool("consent", false, "")
		requireMFA, requireVerified := fs.Bool("require-mfa", false, ""), fs.Bool("require-verified-email", false, "")
		firstParty := fs.Bool("first-party", false, "")
		defaultAPI := fs.String("default-api", "", "")
		var redirects, logouts, grants, scopes, apis, actsFor, origins multi
		fs.Var(&apis, "api", "")
		fs.Var(&actsFor, "acts-for", "")
		fs.Var(&origins, "origin", "")
		fs.Var(&redirects, "redirect-uri", "")
		fs.Var(&logouts, "post-logout-redirect-uri", "")
		fs.Var(&grants, "grant-type", "")
		fs.Var(&scopes, "scope", "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		c := app.BootstrapClient{ID: *id, Name: *name, RedirectURIs: redirects, PostLogoutRedirectURIs: logouts, GrantTypes: grants,
			Scopes: scopes, RequireConsent: *consent, IDTokenSignedAlg: *alg, RequireMFA: *requireMFA, RequireVerifiedEmail: *requireVerified,
			FirstParty: *firstParty, APIs: apis, DefaultAPI: *defaultAPI, ActsFor: actsFor, AllowedOrigins: origins}
		if !*public {
			c.Secret = random.Token(32)
		}
		if len(c.GrantTypes) == 0 {
			c.GrantTypes = []string{"authorization_code", "refresh_token"}
		}
		known, err := storedAPIs(ctx, store)
		if err != nil {
			return err
		}
		if err := (app.Bootstrap{APIs: known, Clients: []app.BootstrapClient{c}}).Check(cfg.Issuer); err != nil {
			return err
		}
		if err := app.ApplyBootstrap(ctx, store, nil, app.Bootstrap{Clients: []app.BootstrapClient{c}}, time.Now); err != nil {
			return err
		}
		res := map[string]any{"id": c.ID, "name": c.Name, "public": *public, "redirect_uris": c.RedirectURIs, "grant_types": c.GrantTypes}
		if c.Secret != "" {
			res["secret"] = c.Secret // shown once; only its hash is stored
		}
		return out.Encode(res)
	case "api create", "api list", "api delete":
		return adminAPIs(ctx, store, rules, rest[1], rest[2:], out)
	case "keys rotate":
		alg := fs.String("alg", "", "")
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		encKey, _ := seal.ParseKey(cfg.Keys.EncryptionKey)
		box, err := seal.New(encKey)
		if err != nil {
			return err
		}
		m, err := keys.New(ctx, store, box, keys.Config{Algorithms: cfg.Keys.Algorithms,
			RetiredFor: max(cfg.Tokens.IDTokenTTL, cfg.Tokens.AccessTokenTTL) + 5*time.Minute}, time.Now)
		if err != nil {
			return err
		}
		if err := m.Rotate(ctx, *alg, manage.CLI); err != nil {
			return err
		}
		var kids []string
		for _, k := range m.KeySet() {
			kids = append(kids, string(k.Algorithm())+":"+k.ID())
		}
		return out.Encode(map[string]any{"rotated": *alg, "published": kids})
	}
	return fmt.Errorf("unknown admin command %q\n%s", rest[0]+" "+rest[1], adminUsage)
}
