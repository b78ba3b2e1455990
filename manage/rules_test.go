package manage_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

func TestSlugForAlwaysMakesAValidSlug(t *testing.T) {
	for _, name := range []string{"", "Acme Energy GmbH", "---", "Ünïcødé Ströme", strings.Repeat("a b ", 50), "日本語", "A-1", strings.Repeat("x", 39) + " y"} {
		s := manage.SlugFor(name, "0a1b2c")
		if !manage.ValidSlug(s) {
			t.Errorf("SlugFor(%q) = %q, which breaks the slug rule", name, s)
		}
	}
}

func TestValidSlug(t *testing.T) {
	for s, want := range map[string]bool{"acme": true, "a": true, "acme-2": true, "-acme": false, "Acme": false, "ac me": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false, "": false, "acme_1": false} {
		if manage.ValidSlug(s) != want {
			t.Errorf("ValidSlug(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestOrgSpecReportsEveryBrokenRule(t *testing.T) {
	o := manage.OrgSpec{Slug: "Bad Slug", Name: " ", Plan: "platinum", MFA: "sometimes"}
	err := o.Check()
	var list manage.ValidationErrors
	if !errors.As(err, &list) {
		t.Fatalf("want ValidationErrors, got %v", err)
	}
	fields := map[string]bool{}
	for _, e := range list {
		fields[e.Field] = true
	}
	for _, f := range []string{"slug", "name", "plan", "mfa"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, err)
		}
	}
	ok := manage.OrgSpec{Slug: "acme", Name: "  Acme  "}
	if err := ok.Check(); err != nil || ok.Name != "Acme" {
		t.Errorf("valid org refused (%v) or name not trimmed (%q)", err, ok.Name)
	}
}

func TestClientSpecRules(t *testing.T) {
	many := make([]string, manage.MaxClientList+1)
	for i := range many {
		many[i] = fmt.Sprintf("https://rp.example/cb%d", i)
	}
	member := manage.Registrar{Role: "member", APIs: []string{"https://trading.example"}, APIScopes: []string{"bids:submit"}}
	operator := manage.Registrar{Operator: true}
	base := func() manage.ClientSpec {
		return manage.ClientSpec{Name: "App", RedirectURIs: []string{"https://rp.example/cb"}}
	}
	cases := []struct {
		name  string
		reg   manage.Registrar
		edit  func(*manage.ClientSpec)
		field string // "" = accepted
	}{
		{"valid", member, func(*manage.ClientSpec) {}, ""},
		{"no name", member, func(c *manage.ClientSpec) { c.Name = "  " }, "name"},
		{"too many redirect URIs", member, func(c *manage.ClientSpec) { c.RedirectURIs = many }, "redirect_uris"},
		{"javascript redirect", member, func(c *manage.ClientSpec) { c.RedirectURIs = []string{"javascript:alert(1)"} }, "redirect_uris[0]"},
		{"http redirect off loopback", member, func(c *manage.ClientSpec) { c.RedirectURIs = []string{"http://rp.example/cb"} }, "redirect_uris[0]"},
		{"code flow without redirect", member, func(c *manage.ClientSpec) { c.RedirectURIs = nil }, "redirect_uris"},
		{"an API's scope as its own", member, func(c *manage.ClientSpec) { c.Scopes = []string{"bids:submit"} }, "scopes[0]"},
		{"bad scope token", member, func(c *manage.ClientSpec) { c.Scopes = []string{"a b"} }, "scopes[0]"},
		{"unknown grant", member, func(c *manage.ClientSpec) { c.GrantTypes = []string{"password"} }, "grant_types[0]"},
		{"public client_credentials", member, func(c *manage.ClientSpec) {
			c.Public, c.GrantTypes, c.RedirectURIs = true, []string{"client_credentials"}, nil
		}, "grant_types[0]"},
		{"service role above own", member, func(c *manage.ClientSpec) {
			c.ServiceRole, c.GrantTypes, c.RedirectURIs = "admin", []string{"client_credentials"}, nil
		}, "service_role"},
		{"service role within own", member, func(c *manage.ClientSpec) {
			c.ServiceRole, c.GrantTypes, c.RedirectURIs = "viewer", []string{"client_credentials"}, nil
		}, ""},
		{"service account with code flow", member, func(c *manage.ClientSpec) { c.ServiceRole = "viewer" }, "service_role"},
		{"someone else's API", member, func(c *manage.ClientSpec) { c.APIs = []string{"https://settlement.example"} }, "apis[0]"},
		{"own API", member, func(c *manage.ClientSpec) { c.APIs = []string{"https://trading.example"} }, ""},
		{"first party by a member", member, func(c *manage.ClientSpec) { c.FirstParty = true }, "first_party"},
		{"first party by the operator", operator, func(c *manage.ClientSpec) { c.FirstParty = true }, ""},
		{"unknown signing alg", member, func(c *manage.ClientSpec) { c.IDTokenSignedAlg = "none" }, "id_token_signed_response_alg"},
		{"bad origin", member, func(c *manage.ClientSpec) { c.AllowedOrigins = []string{"https://rp.example/path"} }, "allowed_origins[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Check(tc.reg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var list manage.ValidationErrors
			if !errors.As(err, &list) {
				t.Fatalf("want a broken rule on %s, got %v", tc.field, err)
			}
			for _, e := range list {
				if e.Field == tc.field {
					return
				}
			}
			t.Fatalf("want a broken rule on %s, got %v", tc.field, err)
		})
	}
}

func TestClientSpecDefaultsGrantTypes(t *testing.T) {
	c := manage.ClientSpec{Name: "App", RedirectURIs: []string{"https://rp.example/cb"}}
	if err := c.Check(manage.Registrar{Role: "owner"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.GrantTypes, " ") != "authorization_code refresh_token" {
		t.Fatalf("grant types = %v", c.GrantTypes)
	}
}

func TestPrefixNamesTheConfigKey(t *testing.T) {
	err := manage.Prefix("bootstrap.clients[2]", manage.ValidationErrors{{Field: "name", Msg: "must be 1 to 200 characters"}})
	if err.Error() != "bootstrap.clients[2].name: must be 1 to 200 characters" {
		t.Fatalf("got %q", err)
	}
}

func TestBrandingRules(t *testing.T) {
	ok := storage.Branding{DisplayName: " Volt ", Logo: "data:image/png;base64,iVBORw0KGgo=", Color: "#0B6E4F", SupportURL: "mailto:help@volt.example"}
	if err := manage.CheckBranding(&ok); err != nil || ok.DisplayName != "Volt" || ok.Color != "#0b6e4f" {
		t.Fatalf("good branding: %v %+v", err, ok)
	}
	for name, b := range map[string]storage.Branding{
		"light colour":   {Color: "#ffd700"},
		"not a colour":   {Color: "red"},
		"remote logo":    {Logo: "https://evil.example/logo.png"},
		"html logo":      {Logo: "data:text/html;base64,PHNjcmlwdD4="},
		"huge logo":      {Logo: "data:image/png;base64," + strings.Repeat("A", 70000)},
		"javascript url": {SupportURL: "javascript:alert(1)"},
		"http url":       {SupportURL: "http://help.example"},
		"two lines":      {DisplayName: "a\nb"},
	} {
		if err := manage.CheckBranding(&b); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if c := manage.Contrast("#000000", "#ffffff"); c < 20.9 || c > 21.1 {
		t.Fatalf("black on white: %.2f", c)
	}
}
