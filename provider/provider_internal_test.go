package provider

import (
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/optibid/idp/storage"
)

func TestGrantOf(t *testing.T) {
	for jti, want := range map[string]struct {
		grant string
		ok    bool
	}{
		"g.abc.rand": {"abc", true}, "c.rand": {"", true}, "c.": {"", false}, "g..x": {"", false},
		"g.abc": {"", false}, "": {"", false}, "x.abc.y": {"", false}, "rt.abc": {"", false},
	} {
		g, ok := grantOf(jti)
		if g != want.grant || ok != want.ok {
			t.Errorf("grantOf(%q) = %q, %v; want %q, %v", jti, g, ok, want.grant, want.ok)
		}
	}
}

func TestCheckPKCE(t *testing.T) {
	public := &client{Client: storage.Client{ID: "p"}}
	confidential := &client{Client: storage.Client{ID: "c", SecretHash: "h"}}
	good := strings.Repeat("A", 43)
	cases := []struct {
		c         *client
		challenge string
		method    oidc.CodeChallengeMethod
		ok        bool
	}{
		{public, good, "S256", true},
		{public, "", "", false},
		{confidential, "", "", true},
		{confidential, good, "plain", false},
		{confidential, good, "", false},
		{confidential, "", "S256", false},
		{confidential, "short", "S256", false},
		{confidential, strings.Repeat("A", 129), "S256", false},
		{confidential, strings.Repeat("+", 43), "S256", false},
	}
	for _, tc := range cases {
		msg := checkPKCE(tc.c, &oidc.AuthRequest{CodeChallenge: tc.challenge, CodeChallengeMethod: tc.method})
		if (msg == "") != tc.ok {
			t.Errorf("public=%v challenge=%q method=%q: %q", tc.c.Public(), tc.challenge, tc.method, msg)
		}
	}
}

func TestCleanDescription(t *testing.T) {
	got := cleanDescription("bad\r\nSet-Cookie: x\t\"q\"\\ é" + strings.Repeat("a", 300))
	if strings.ContainsAny(got, "\r\n\t\"\\é") || len(got) > 200 {
		t.Fatalf("%q", got)
	}
}
