package imprint

import (
	"net/netip"
	"strings"
)

// ParsePrefixes parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, fd00::/8"), as settings give address ranges; a bare address
// stands for itself alone. The empty string is the empty list. Returns
// Invalid naming the first entry that is neither.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, Errorf(Invalid, "%q is not an address or a CIDR prefix such as 10.0.0.0/8 or fd00::/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// PrefixesContain reports whether a, or the IPv4 address an IPv4-mapped a
// stands for, is in one of the prefixes.
func PrefixesContain(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
