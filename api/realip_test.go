package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestRealIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name, peer, xff, realIP string
		trusted                 []netip.Prefix
		want                    string
	}{
		{"no proxies configured: headers ignored", "203.0.113.9:4000", "198.51.100.1", "198.51.100.2", nil, "203.0.113.9:4000"},
		{"untrusted peer: headers ignored", "203.0.113.9:4000", "198.51.100.1", "198.51.100.2", proxies, "203.0.113.9:4000"},
		{"trusted proxy", "10.1.2.3:4000", "198.51.100.1", "", proxies, "198.51.100.1:0"},
		{"forged left-most hop", "10.1.2.3:4000", "127.0.0.1, 198.51.100.1", "", proxies, "198.51.100.1:0"},
		{"chain of trusted proxies", "10.1.2.3:4000", "198.51.100.1, 10.9.9.9", "", proxies, "198.51.100.1:0"},
		{"every hop a proxy", "10.1.2.3:4000", "10.9.9.9", "", proxies, "10.1.2.3:4000"},
		{"malformed hop", "10.1.2.3:4000", "198.51.100.1, bogus", "", proxies, "10.1.2.3:4000"},
		{"X-Real-IP from a proxy", "[fd00::1]:4000", "", "2001:db8::7", proxies, "[2001:db8::7]:0"},
		{"mapped IPv4 peer", "[::ffff:10.1.2.3]:4000", "198.51.100.1", "", proxies, "198.51.100.1:0"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.realIP != "" {
			r.Header.Set("X-Real-IP", tc.realIP)
		}
		var got string
		realIP(tc.trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr })).
			ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: RemoteAddr = %q, want %q", tc.name, got, tc.want)
		}
	}
}
