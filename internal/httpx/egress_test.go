package httpx_test

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/optibid/idp/internal/httpx"
)

// CHECKS 64: internal destinations are refused before any connection.
// (Decimal and hex spellings of an address are names to the resolver; the
// guard judges whatever address a name resolves to, so they need no case
// here, and a test must not send made-up names to a DNS server.)
func TestOutboundClientRefusesInternal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	c := httpx.OutboundClient(2*time.Second, false)
	port := l.Addr().(*net.TCPAddr).Port
	for _, u := range []string{
		"http://" + l.Addr().String() + "/.well-known/openid-configuration",
		"http://localhost:" + itoa(port) + "/",
		"http://[::1]:" + itoa(port) + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/", "http://100.64.0.1/", "http://0.0.0.0/",
	} {
		start := time.Now()
		_, err := c.Get(u)
		if err == nil {
			t.Errorf("%s: reached", u)
			continue
		}
		if time.Since(start) > time.Second {
			t.Errorf("%s: took %v (a connection was attempted)", u, time.Since(start))
		}
		if !errors.Is(err, httpx.ErrForbiddenAddress) && !isDNSError(err) {
			t.Errorf("%s: %v", u, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections reached the loopback listener", n)
	}
	// Allowed explicitly (development and tests), loopback works.
	resp, err := httpx.OutboundClient(2*time.Second, true).Get("http://" + l.Addr().String() + "/")
	if err == nil {
		resp.Body.Close()
	}
	time.Sleep(50 * time.Millisecond)
	if accepted.Load() != 1 {
		t.Fatal("allowPrivate did not allow loopback")
	}
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}

func itoa(n int) string { return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)).String()[8:] }

func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false, "::1": false,
		"10.1.2.3": false, "169.254.169.254": false, "fd00::1": false, "::ffff:127.0.0.1": false, "100.100.100.100": false} {
		if got := httpx.PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("%s: %v", s, got)
		}
	}
	_ = http.MethodGet
}
