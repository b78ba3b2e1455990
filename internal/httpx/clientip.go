package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// TrustedProxies are the addresses (load balancers, ingress controllers)
// whose X-Forwarded-For is believed. Behind them every connection comes
// from a proxy, so without this list the audit log, the sign-in history
// and the per-address mail and SMS caps would all see the proxy's address
// and treat every person as one. Empty (the default) believes no header:
// a server reached directly must not let a client choose its own address.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads CIDRs and single addresses ("10.0.0.0/8",
// "192.0.2.7", "fd00::/8").
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	out := make(TrustedProxies, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:a.b.c.d/n: compare as IPv4
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("httpx: trusted proxy %d: %q is neither an address nor a CIDR", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// TooBroad reports an entry wider than any set of proxies: public
// addresses beyond an IPv4 /16 or an IPv6 /32 (one provider's block).
// Private, loopback and link-local ranges (where a balancer inside the
// network sits) may be listed whole. Entries are judged one by one, so
// splitting the Internet into many entries does not get past it.
func (t TrustedProxies) TooBroad() (netip.Prefix, bool) {
	for _, p := range t {
		if slices.ContainsFunc(internalRanges, func(r netip.Prefix) bool { return r.Bits() <= p.Bits() && r.Contains(p.Addr()) }) {
			continue
		}
		if (p.Addr().Is4() && p.Bits() < 16) || (p.Addr().Is6() && p.Bits() < 32) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// internalRanges are the non-public ranges a trusted proxy list may name
// whole: RFC 1918, shared (RFC 6598), loopback and link-local for IPv4;
// unique-local, link-local and loopback for IPv6.
var internalRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("::1/128"),
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the party that sent r. It is the peer's
// address, unless the peer is a trusted proxy: then X-Forwarded-For is
// read from its right end (the entry the nearest proxy added) leftwards,
// past every trusted proxy, and the first address that is not one is the
// client. Entries left of that one were written by the client and are
// never believed. An entry that is not an address ends the walk at the
// last proxy's own view.
func (t TrustedProxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(t) == 0 {
		return host // the default: nothing to compare, so nothing to parse per request
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap().WithZone("")
	if !t.trusts(peer) {
		return peer.String()
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !t.trusts(a) {
			break
		}
	}
	return client.String()
}

// AddressBlock is the block of addresses one party controls, for caps
// per client address: an IPv4 address itself, and for IPv6 its /64 (every
// IPv6 client is given at least that many and may use any of them).
// Anything else is returned as it is.
func AddressBlock(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// forwardedFor joins every X-Forwarded-For line into one list of hops,
// as proxies may add a line or append to the last.
func forwardedFor(lines []string) []string {
	var hops []string
	for _, l := range lines {
		hops = append(hops, strings.Split(l, ",")...)
	}
	return hops
}

// parseHop reads one X-Forwarded-For entry: an address, with or without a
// port (some proxies add one), IPv6 possibly in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else {
			a, err = netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	// A zone is the sender's local interface name: nothing to log.
	return a.Unmap().WithZone(""), true
}
