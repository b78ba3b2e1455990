package httpx

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/optibid/idp/internal/telemetry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// ErrForbiddenAddress means an outgoing connection would reach a loopback,
// private, link-local (cloud metadata) or otherwise internal address.
var ErrForbiddenAddress = errors.New("httpx: destination address not allowed")

// OutboundClient returns an HTTP client for talking to servers that
// untrusted configuration names (upstream identity providers, and every URL
// their discovery documents announce). Unless allowPrivate is set, its
// dialer refuses internal addresses after name resolution and before the
// connection is made, so neither DNS rebinding nor redirects reach them and
// no packet is sent (CVE-2026-1180, CVE-2021-26715).
func OutboundClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !PublicAddr(ip) {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil // a proxy would dial for us and bypass the check
	// Upstream calls (discovery, keys, token endpoint) are spans of the
	// request that makes them; nothing is propagated to the upstream.
	return &http.Client{Timeout: timeout, Transport: otelhttp.NewTransport(tr, otelhttp.WithPropagators(telemetry.NoPropagation)),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("httpx: too many redirects")
			}
			return nil
		}}
}

// PublicAddr reports whether ip is a globally routable unicast address.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// blocked are further ranges that are not public: carrier-grade NAT,
// benchmarking, documentation, "this network" and reserved space.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("240.0.0.0/4"), netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
}
