package imprint_test

import (
	"net/netip"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestParsePrefixes(t *testing.T) {
	got, err := imprint.ParsePrefixes(" 127.0.0.0/8, 10.1.0.0/16 ,fd00:ec2::/32,192.168.1.7,10.9.9.9/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "10.1.0.0/16", "fd00:ec2::/32", "192.168.1.7/32", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != netip.MustParsePrefix(want[i]) {
			t.Errorf("ParsePrefixes()[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0.0/8;", "fe80::1%eth0", "*"} {
		if _, err := imprint.ParsePrefixes(bad); imprint.ErrorKind(err) != imprint.Invalid {
			t.Errorf("ParsePrefixes(%q) = %v, want Invalid", bad, err)
		}
	}
	if l, err := imprint.ParsePrefixes(""); err != nil || len(l) != 0 {
		t.Errorf("ParsePrefixes(\"\") = %v, %v; want empty", l, err)
	}
	for addr, in := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false, "fd00:ec2::1": true} {
		if got := imprint.PrefixesContain(got, netip.MustParseAddr(addr)); got != in {
			t.Errorf("PrefixesContain(%s) = %v, want %v", addr, got, in)
		}
	}
}
