package claims_test

import (
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/provider/claims"
	"github.com/optibid/idp/storage"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	at   = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	user = storage.User{ID: "u1", Email: "ada@example.com", Name: "Ada Lovelace", EmailVerified: true, UpdatedAt: at}
	// user0 is user, addressable.
	user0 = user
)

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatalf("%s changed:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestUserinfo(t *testing.T) {
	for name, scopes := range map[string][]string{
		"userinfo_openid":               {"openid"},
		"userinfo_openid_profile_email": {"openid", "profile", "email"},
	} {
		t.Run(name, func(t *testing.T) {
			info := new(oidc.UserInfo)
			claims.Userinfo(info, user, scopes)
			golden(t, name, info)
		})
	}
}

// The access token of a user for an API, and what introspection answers
// for it and for a service account's own token: the shapes APIs rely on.
func TestAccessTokenAndIntrospectionShapes(t *testing.T) {
	o := storage.OrgRole{Org: storage.Organization{ID: "o1", Slug: "acme", Name: "Acme Energy", Plan: "professional"}, Role: "member"}
	effective := map[string]map[string]any{"market.view": nil, "bids.day_ahead": {"max_bid_mw": 50}}
	user := func() *claims.AccessToken {
		return &claims.AccessToken{Issuer: "https://id.example", Subject: "u1", Audience: []string{"https://api.example/trading"},
			ClientID: "web", IssuedAt: at.Unix(), NotBefore: at.Unix(), Expiry: at.Add(15 * time.Minute).Unix(), JWTID: "g.grant1.x",
			Scope: "openid email org entitlements bids:read", AuthTime: at.Add(-time.Minute).Unix(), ACR: storage.ACRFor([]string{"pwd", "otp", "mfa"}),
			AMR: []string{"pwd", "otp", "mfa"}}
	}
	tok := user()
	tok.SetOrg(o, effective, claims.All)
	golden(t, "access_token_user_api", tok)
	// An API that receives only org gets neither permissions nor features.
	narrow := user()
	narrow.SetOrg(o, effective, claims.Receives{Org: true})
	if narrow.Org == nil || narrow.Permissions != nil || narrow.Entitlements != nil {
		t.Fatalf("claims beyond what the API receives: %+v", narrow)
	}
	golden(t, "introspection_user_api", claims.Introspection(tok, &user0, o, effective, claims.All))
	exchanged := user()
	exchanged.Actor = &claims.Actor{Subject: "trading-api"}
	if got := claims.Introspection(exchanged, &user0, o, effective, claims.Receives{}); got["act"] == nil || got["org"] != nil {
		t.Fatalf("exchanged token introspection: %v", got)
	}
	svc := &claims.AccessToken{Issuer: "https://id.example", Subject: "robot", Audience: []string{"https://id.example/api"},
		ClientID: "robot", IssuedAt: at.Unix(), NotBefore: at.Unix(), Expiry: at.Add(15 * time.Minute).Unix(), JWTID: "c.x", Scope: "manage org"}
	svc.SetOrg(storage.OrgRole{Org: o.Org, Role: "admin"}, nil, claims.Receives{Org: true, Permissions: true})
	golden(t, "introspection_service_account", claims.Introspection(svc, nil, storage.OrgRole{}, nil, claims.Receives{Org: true, Permissions: true}))
}

func TestOrg(t *testing.T) {
	o := storage.OrgRole{Org: storage.Organization{ID: "o1", Slug: "acme", Name: "Acme Energy"}, Role: "member"}
	golden(t, "org_member", claims.Org([]string{"openid", "org"}, o))
	if claims.Org([]string{"openid"}, o) != nil {
		t.Fatal("org claims without the org scope")
	}
	if claims.Org([]string{"org:acme"}, o) == nil {
		t.Fatal("org:<slug> scope must carry the claims")
	}
	if claims.Org([]string{"org"}, storage.OrgRole{Org: o.Org}) != nil {
		t.Fatal("org claims without a membership")
	}
}

// The entitlements claim in access token and userinfo (keys and small
// configuration), and the ID token's trimmed organization claims.
func TestEntitlementsShapes(t *testing.T) {
	o := storage.OrgRole{Org: storage.Organization{ID: "o1", Slug: "acme", Name: "Acme Energy", Plan: "professional"}, Role: "viewer"}
	effective := map[string]map[string]any{"market.view": nil, "bids.day_ahead": {"max_bid_mw": 50}, "reports.export": {}}
	scopes := []string{"openid", "org", "entitlements"}
	full := claims.Org(scopes, o)
	maps.Copy(full, claims.Entitlements(scopes, effective))
	golden(t, "org_entitlements", full)
	golden(t, "org_entitlements_id_token", claims.ForIDToken(full))
	if claims.Entitlements([]string{"openid", "org"}, effective) != nil {
		t.Fatal("entitlements without the scope")
	}
	if _, ok := full["permissions"]; !ok {
		t.Fatal("ForIDToken must not change its argument")
	}
}
