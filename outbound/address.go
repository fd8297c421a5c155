// Package outbound guards the requests Imprint makes to other servers
// (webhook deliveries, pre-provisioning hooks): they reach public addresses
// only, unless an administrator allows more ranges. The check runs on the
// address of every connection the client opens, after name resolution, so a
// name that resolves to an internal address (at any time, DNS rebinding
// included) is refused as surely as a literal one.
package outbound

import (
	"net/netip"
)

// refusedRanges are the ranges outbound requests may not reach unless
// allowed, with the name a refusal gives. The first match names the address.
var refusedRanges = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // "this network": 0.0.0.0 reaches the host itself
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"}, // IETF protocol assignments
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"}, // benchmarking
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},

	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved"},         // IPv4-compatible, deprecated
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"}, // NAT64 for local use (RFC 8215)
	{netip.MustParsePrefix("100::/64"), "reserved"},      // discard-only
	{netip.MustParsePrefix("fc00::/7"), "unique-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "private"}, // site-local, deprecated
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Prefixes of IPv6 addresses that carry an IPv4 address, which decides where
// a connection to them ends up.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 prefix (RFC 6052)
	sixTo4 = netip.MustParsePrefix("2002::/16")    // 6to4 (RFC 3056)
)

// embeddedIPv4 returns the IPv4 address an IPv6 address stands for: the
// address of an IPv4-mapped one (::ffff:a.b.c.d), of a NAT64 one
// (64:ff9b::a.b.c.d) or of a 6to4 one (2002:aabb:ccdd::).
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case a.Is4In6():
		return a.Unmap(), true
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// Classify names the range of a that outbound requests may not reach
// ("loopback", "private", "link-local", "unique-local", "unspecified",
// "multicast", "broadcast", "shared (carrier-grade NAT)", "reserved"), or
// returns "" for a public address. An IPv6 address that carries an IPv4 one
// (IPv4-mapped, NAT64, 6to4) is classified by the IPv4 address. The zero
// Addr is "invalid".
func Classify(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = a.WithZone("")
	if v4, ok := embeddedIPv4(a); ok {
		if name := Classify(v4); name != "" {
			return name + " (IPv4 in IPv6)"
		}
		return ""
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(a) {
			return r.name
		}
	}
	return ""
}
