package registration_test

import (
	"testing"

	"github.com/optibid/idp/manage/registration"
	"github.com/optibid/idp/storage"
)

func TestValidateAPI(t *testing.T) {
	const mgmt = "https://id.example/api"
	ok := func(id string) storage.API {
		return storage.API{Identifier: id, Name: "Trading", Scopes: []storage.APIScope{{Name: "bids:read", Description: "See bids"}}}
	}
	for _, id := range []string{"https://api.optibid.example/trading", "https://api.optibid.example:8443/v1/trading", "http://127.0.0.1:9000/api",
		"urn:optibid:trading", "https://api.optibid.example"} {
		if err := registration.ValidateAPI(ok(id), mgmt); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	for _, id := range []string{mgmt, "https://id.example/api/", "HTTPS://id.example/api", "https://ID.example/api", "https://id.example/API/",
		"https://id.example/./api", "https://id.example//api", "https://id.example/%61pi", "https://id.example/api?", "https://id.example/api#x",
		"https://user@id.example/api", "http://api.example/trading", "https://аpi.optibid.example/trading", "javascript:alert(1)", "api",
		"https://id.example/a/../api", "https://*.example/api", "urn:optibid", ""} {
		if err := registration.ValidateAPI(ok(id), mgmt); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
	bad := []storage.API{
		{Identifier: "https://a.example", Name: ""},
		{Identifier: "https://a.example", Name: "x", Scopes: []storage.APIScope{{Name: "openid"}}},
		{Identifier: "https://a.example", Name: "x", Scopes: []storage.APIScope{{Name: "org:acme"}}},
		{Identifier: "https://a.example", Name: "x", Scopes: []storage.APIScope{{Name: "a"}, {Name: "a"}}},
		{Identifier: "https://a.example", Name: "x", Scopes: []storage.APIScope{{Name: "bad scope"}}},
		{Identifier: "https://a.example", Name: "x", Scopes: []storage.APIScope{{Name: "a", Description: "two\nlines"}}},
		{Identifier: "https://a.example", Name: "x", SigningAlg: "HS256"},
		{Identifier: "https://a.example", Name: "x", Claims: []string{"email"}},
		{Identifier: "https://a.example", Name: "x", AccessTokenTTL: 1},
	}
	for _, a := range bad {
		if err := registration.ValidateAPI(a, mgmt); err == nil {
			t.Errorf("%+v accepted", a)
		}
	}
}

func TestValidateOrigin(t *testing.T) {
	for _, o := range []string{"https://spa.example", "https://spa.example:8443", "http://localhost:3000"} {
		if err := registration.ValidateOrigin(o); err != nil {
			t.Errorf("%s: %v", o, err)
		}
	}
	for _, o := range []string{"https://spa.example/", "https://spa.example/app", "http://spa.example", "*", "null", "https://*.example"} {
		if err := registration.ValidateOrigin(o); err == nil {
			t.Errorf("%q accepted", o)
		}
	}
}

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"http://127.0.0.1/cb", "http://[::1]/cb", "https://rp.example/cb"}
	for _, got := range []string{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", "http://[::1]:8080/cb", "https://rp.example/cb"} {
		if !registration.MatchRedirectURI(reg, got, true) {
			t.Errorf("%s refused", got)
		}
	}
	for _, got := range []string{"https://127.0.0.1/cb", "http://localhost/cb", "http://localhost:5000/cb", "http://127.0.0.2/cb",
		"http://127.0.0.1:5000/%63b", "http://127.0.0.1:5000/cb#x", "http://127.0.0.1:5000/cb?x=1", "http://u@127.0.0.1:5000/cb",
		"http://127.0.0.1:5000/cb/", "http://127.0.0.1:5000/CB", "https://rp.example/cb/", "https://rp.example:443/cb", "https://RP.example/cb"} {
		if registration.MatchRedirectURI(reg, got, true) {
			t.Errorf("%s accepted", got)
		}
	}
	if registration.MatchRedirectURI(reg, "http://127.0.0.1:51234/cb", false) {
		t.Error("a confidential client's loopback URI matched another port")
	}
}
