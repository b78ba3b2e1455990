package httpx_test

import (
	"net/http/httptest"
	"testing"

	"github.com/optibid/idp/internal/httpx"
)

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	proxies, err := httpx.ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "fd00::/8", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		trusted httpx.TrustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no list: the peer, whatever the header says", nil, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"an untrusted peer cannot choose its address", proxies, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"behind the balancer", proxies, "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a client's own entry left of the real one is ignored", proxies, "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"through two proxies", proxies, "10.1.2.3:5000", []string{"198.51.100.1, 192.0.2.7"}, "198.51.100.1"},
		{"lines are one list", proxies, "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"an entry that is no address stops at the last proxy", proxies, "10.1.2.3:5000", []string{"198.51.100.1, bogus"}, "10.1.2.3"},
		{"garbage left of the client does not matter", proxies, "10.1.2.3:5000", []string{"<script>, 198.51.100.1"}, "198.51.100.1"},
		{"only proxies: the first of them", proxies, "10.1.2.3:5000", []string{"10.7.7.7, 192.0.2.7"}, "10.7.7.7"},
		{"no header from a proxy: the proxy", proxies, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"entries with ports", proxies, "10.1.2.3:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 client through an IPv6 proxy", proxies, "[fd00::1]:5000", []string{"[2001:db8::5]:80"}, "2001:db8::5"},
		{"bare IPv6 entry", proxies, "[fd00::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"IPv4-mapped peer and CIDR", proxies, "[::ffff:172.16.0.9]:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"a spoofed trusted address left of the client is not used", proxies, "10.1.2.3:5000", []string{"10.0.0.1, 198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"a zone is dropped", proxies, "[fd00::1]:5000", []string{"fe80::1%<script>"}, "fe80::1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, l := range c.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := c.trusted.ClientIP(r); got != c.want {
				t.Fatalf("client %q, want %q", got, c.want)
			}
		})
	}
}

func TestAddressBlock(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":            "198.51.100.7",
		"2001:db8:1:2::5":         "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::/64",
		"2001:db8:1:3::5":         "2001:db8:1:3::/64",
		"::ffff:198.51.100.7":     "::ffff:198.51.100.7",
		"fe80::1%eth0":            "fe80::/64",
		"not an address":          "not an address",
	} {
		if got := httpx.AddressBlock(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestTrustedProxiesTooBroad(t *testing.T) {
	for list, broad := range map[string]bool{
		"10.0.0.0/8": false, "172.16.0.0/12": false, "192.168.0.0/16": false, "100.64.0.0/10": false,
		"fd00::/8": false, "fc00::/7": false, "203.0.113.0/24": false, "35.191.0.0/16": false, "2001:db8::/32": false,
		"0.0.0.0/0": true, "::/0": true, "0.0.0.0/1": true, "10.0.0.0/7": true, "11.0.0.0/8": true,
		"2a00::/7": true, "2000::/3": true, "::ffff:0:0/97": true, "2001:db8::/31": true,
	} {
		p, err := httpx.ParseTrustedProxies([]string{list})
		if err != nil {
			t.Fatal(err)
		}
		if _, got := p.TooBroad(); got != broad {
			t.Errorf("%s: too broad %v, want %v", list, got, broad)
		}
	}
}

func TestParseTrustedProxiesRefusesNonsense(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "10.0.0.1/8/9"} {
		if _, err := httpx.ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
