package outbound_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr, want string
	}{
		// Public addresses.
		{"8.8.8.8", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.32.0.1", ""},
		{"2606:4700::6810:84e5", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8

		// IPv4.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "shared (carrier-grade NAT)"},
		{"100.127.255.255", "shared (carrier-grade NAT)"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"192.0.0.170", "reserved"},
		{"198.18.0.1", "reserved"},

		// IPv6.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fd00:ec2::254", "unique-local"},
		{"fc00::1", "unique-local"},
		{"fec0::1", "private"},
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		{"::7f00:1", "reserved"}, // IPv4-compatible ::127.0.0.1
		{"64:ff9b:1::a00:1", "private"},
		{"100::1", "reserved"},

		// IPv4-mapped forms.
		{"::ffff:127.0.0.1", "loopback (IPv4 in IPv6)"},
		{"::ffff:7f00:1", "loopback (IPv4 in IPv6)"},
		{"::ffff:169.254.169.254", "link-local (IPv4 in IPv6)"},
		{"::ffff:10.1.2.3", "private (IPv4 in IPv6)"},
		{"::ffff:172.16.0.1", "private (IPv4 in IPv6)"},
		{"::ffff:192.168.0.1", "private (IPv4 in IPv6)"},
		{"::ffff:0.0.0.0", "unspecified (IPv4 in IPv6)"},
		{"::ffff:100.64.0.1", "shared (carrier-grade NAT) (IPv4 in IPv6)"},
		{"::ffff:224.0.0.1", "multicast (IPv4 in IPv6)"},
		{"::ffff:255.255.255.255", "broadcast (IPv4 in IPv6)"},

		// The NAT64 well-known prefix and 6to4 embedding refused addresses.
		{"64:ff9b::127.0.0.1", "loopback (IPv4 in IPv6)"},
		{"64:ff9b::a9fe:a9fe", "link-local (IPv4 in IPv6)"},
		{"64:ff9b::10.0.0.1", "private (IPv4 in IPv6)"},
		{"64:ff9b::192.168.1.1", "private (IPv4 in IPv6)"},
		{"64:ff9b::100.64.0.1", "shared (carrier-grade NAT) (IPv4 in IPv6)"},
		{"64:ff9b::0.0.0.0", "unspecified (IPv4 in IPv6)"},
		{"2002:7f00:1::", "loopback (IPv4 in IPv6)"},
		{"2002:a9fe:a9fe::1", "link-local (IPv4 in IPv6)"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			if got := outbound.Classify(a); got != tc.want {
				t.Errorf("Classify(%s) = %q, want %q", tc.addr, got, tc.want)
			}
			if got, want := outbound.New(nil).Allowed(a), tc.want == ""; got != want {
				t.Errorf("Allowed(%s) with no allow list = %v, want %v", tc.addr, got, want)
			}
			var none *outbound.Guard
			if got, want := none.Allowed(a), tc.want == ""; got != want {
				t.Errorf("nil Guard: Allowed(%s) = %v, want %v", tc.addr, got, want)
			}
			if !outbound.New([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}).Allowed(a) {
				t.Errorf("Allowed(%s) with everything allowed = false", tc.addr)
			}
		})
	}
	if outbound.Classify(netip.Addr{}) == "" || outbound.New(nil).Allowed(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	allow, err := imprint.ParsePrefixes(" 127.0.0.0/8, 10.1.0.0/16 ,fd00:ec2::/32,192.168.1.7,")
	if err != nil {
		t.Fatal(err)
	}
	g := outbound.New(allow)
	for addr, want := range map[string]bool{
		"127.0.0.1":          true,
		"::ffff:127.0.0.1":   true, // the mapped form of an allowed address
		"64:ff9b::127.0.0.1": true,
		"::1":                false, // IPv6 loopback is not 127.0.0.0/8
		"10.1.2.3":           true,
		"10.2.0.1":           false,
		"fd00:ec2::254":      true,
		"fd00:ec3::254":      false,
		"192.168.1.7":        true,
		"192.168.1.8":        false,
		"169.254.169.254":    false,
		"8.8.8.8":            true,
	} {
		if got := g.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) under %v = %v, want %v", addr, allow, got, want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	none := outbound.New(nil)
	loopback := outbound.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	for _, tc := range []struct {
		host    string
		guard   *outbound.Guard
		wantErr string // "" for accepted
	}{
		{"hooks.example.com", none, ""},
		{"8.8.8.8", none, ""},
		{"2606:4700::6810:84e5", none, ""},
		{"169.254.169.254", none, "link-local"},
		{"fd00:ec2::254", none, "unique-local"},
		{"::1", none, "loopback"},
		{"::ffff:127.0.0.1", none, "loopback"},
		{"::ffff:7f00:1", none, "loopback"},
		{"64:ff9b::a9fe:a9fe", none, "link-local"},
		{"fe80::1%eth0", none, "link-local"},
		{"0.0.0.0", none, "unspecified"},
		{"10.0.0.1", none, "private"},
		{"192.168.0.10", none, "private"},
		{"100.64.1.1", none, "carrier-grade NAT"},
		{"255.255.255.255", none, "broadcast"},
		{"224.0.0.1", none, "multicast"},
		{"127.0.0.1", none, "loopback"},
		{"127.0.0.1.", none, "loopback"},
		{"0x7f000001", none, "127.0.0.1"},
		{"0X7F000001", none, "127.0.0.1"},
		{"2130706433", none, "127.0.0.1"},
		{"017700000001", none, "127.0.0.1"},
		{"127.1", none, "127.0.0.1"},
		{"127.0.1", none, "127.0.0.1"},
		{"0177.0.0.1", none, "127.0.0.1"},
		{"0xa9.0xfe.0xa9.0xfe", none, "169.254.169.254"},
		{"2852039166", none, "169.254.169.254"},
		{"0", none, "0.0.0.0"},
		{"134744072", none, "non-standard notation"}, // 8.8.8.8, public, in another notation
		{"8.8.8.010", none, "non-standard notation"},
		{"1.2.3.4.5", none, "neither a name nor"},
		{"256.1.1.1", none, "neither a name nor"},
		{"1.2.3.256", none, "neither a name nor"},
		{"4294967296", none, "neither a name nor"},
		{"08.1.1.1", none, "neither a name nor"}, // 8 is no octal digit
		{"example.123", none, "neither a name nor"},
		{"localhost", none, "loopback"},
		{"LocalHost", none, "loopback"},
		{"localhost.", none, "loopback"},
		{"api.localhost", none, "loopback"},
		{"metadata.google.internal", none, ".internal"},
		{"printer.local", none, ".local"},
		{"nas.home.arpa", none, ".home.arpa"},
		{"internal.example.com", none, ""},
		{"localhost.example.com", none, ""},
		{"0x7f.example.com", none, ""}, // a name, whose first label merely looks like a number
		{"deadbeef", none, ""},         // hexadecimal only with 0x

		// With loopback allowed.
		{"127.0.0.1", loopback, ""},
		{"127.0.0.53", loopback, ""},
		{"::ffff:127.0.0.1", loopback, ""},
		{"localhost", loopback, ""},
		{"127.1", loopback, "non-standard notation"},
		{"2130706433", loopback, "non-standard notation"},
		{"::1", loopback, "loopback"},
		{"169.254.169.254", loopback, "link-local"},
		{"metadata.google.internal", loopback, ""}, // the dialer decides, by the address it resolves to
	} {
		err := tc.guard.CheckHost(tc.host)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckHost(%q) = %v, want nil", tc.host, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("CheckHost(%q) = nil, want an error about %q", tc.host, tc.wantErr)
		case err != nil && (!strings.Contains(err.Error(), tc.wantErr) || imprint.ErrorKind(err) != imprint.Invalid):
			t.Errorf("CheckHost(%q) = %v (kind %v), want Invalid about %q", tc.host, err, imprint.ErrorKind(err), tc.wantErr)
		}
	}
}
