package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/imprint-iot/imprint"
)

// realIP sets r.RemoteAddr to the client's address. It is the peer's
// address unless the peer is a proxy in trusted; then it is the right-most
// address of X-Forwarded-For that is not itself a trusted proxy, or
// X-Real-IP when there is no X-Forwarded-For. Headers from any other peer
// are ignored: a client cannot choose the address it is logged and decided
// under.
func realIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a, ok := clientAddr(r, trusted); ok {
				r.RemoteAddr = net.JoinHostPort(a.String(), "0")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientAddr returns the address the trusted proxies vouch for, and false
// when the peer is no trusted proxy or says nothing usable.
func clientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !imprint.PrefixesContain(trusted, peer.Addr()) {
		return netip.Addr{}, false
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				return netip.Addr{}, false // a malformed hop: believe nothing further left
			}
			if !imprint.PrefixesContain(trusted, a) {
				return a.Unmap(), true
			}
		}
		return netip.Addr{}, false // every hop is a trusted proxy
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
