package console

import "testing"

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"=1+1":                  "'=1+1",
		"  @SUM(A1)":            "  '@SUM(A1)",
		"x;=cmd|' /C calc'!A0;": "x;'=cmd|' /C calc'!A0;",
		"a, -2":                 "a, '-2",
		"＝1+1":                  "'＝1+1",
		"line\n+1":              "line\n'+1",
		"a-b=c":                 "a-b=c",
		"x;\"=1+1":              "x;\"'=1+1",
		"\u00a0=1":              "\u00a0'=1",
		"\u200b+1":              "\u200b'+1",
		"\ufe66cmd":             "'\ufe66cmd",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/orgs/acme":              "/console/orgs/acme",
		"/invitations/accept?token=abc":   "/invitations/accept?token=abc",
		"/console/../../evil.com":         "/console",
		"/console/..%2F..%2F%2Fevil.com":  "/console",
		"/console/../end_session":         "/console",
		"//evil.example/console":          "/console",
		"https://evil.example/console":    "/console",
		"/consolex":                       "/console",
		"/console/./orgs/../orgs/a?x=1#f": "/console/orgs/a?x=1",
		"javascript:alert(1)":             "/console",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
