package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imprint-iot/imprint"
)

// Guard decides which addresses outbound requests may connect to: public
// ones, and those in the allow list an administrator configured
// (IMPRINT_OUTBOUND_ALLOW). A nil *Guard has an empty allow list.
type Guard struct {
	allow []netip.Prefix
}

// New returns a guard that also allows the addresses in allow.
func New(allow []netip.Prefix) *Guard {
	return &Guard{allow: allow}
}

// AllowList returns the prefixes the guard allows beyond public addresses.
func (g *Guard) AllowList() []netip.Prefix {
	if g == nil {
		return nil
	}
	return g.allow
}

// Allowed reports whether an outbound connection may go to a: a public
// address, or one in the allow list. An IPv6 address carrying an IPv4 one
// (IPv4-mapped, NAT64, 6to4) is also allowed when the allow list holds the
// IPv4 address.
func (g *Guard) Allowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	if g.allowListed(a) {
		return true
	}
	if v4, ok := embeddedIPv4(a); ok && g.allowListed(v4) {
		return true
	}
	return Classify(a) == ""
}

func (g *Guard) allowListed(a netip.Addr) bool {
	for _, p := range g.AllowList() {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RefusedError is the error of a connection the guard refused. Its message
// names the address, for the server's log; what an API client sees is the
// category (Category), never this.
type RefusedError struct {
	Addr   netip.Addr // the zero Addr if the dialer gave no address
	Reason string     // the range, as Classify names it
}

func (e *RefusedError) Error() string {
	if !e.Addr.IsValid() {
		return "outbound connection refused: " + e.Reason + " address"
	}
	return fmt.Sprintf("outbound connection to %s refused: %s address (IMPRINT_OUTBOUND_ALLOW does not allow it)", e.Addr, e.Reason)
}

// control is the dialer's check of every address it is about to connect to,
// after name resolution: this, not any check of the URL, is what keeps
// requests away from internal addresses.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &RefusedError{Reason: "non-TCP (" + network + ")"}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: "unparsable"}
	}
	if a := ap.Addr().WithZone(""); !g.Allowed(a) {
		return &RefusedError{Addr: a, Reason: Classify(a)}
	}
	return nil
}

// Dialer returns a dialer that connects only to addresses the guard allows,
// checking each address it tries (every one a name resolves to, and every
// hop of a redirect, should one be followed).
func (g *Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
}

// ClientOptions tune the client of Client. The zero value is a 5-second
// timeout and the system's root certificates.
type ClientOptions struct {
	// Timeout bounds a whole request: connection, TLS, headers and body.
	Timeout time.Duration
	// RootCAs verify servers' certificates; nil uses the system's.
	RootCAs *x509.CertPool
}

// Client returns the HTTP client of outbound requests: every connection
// goes through the guard's dialer; proxies from the environment are ignored
// (through a proxy the guard would see only the proxy's address); redirects
// are not followed (the 3xx answer is the response); TLS is 1.2 or later;
// and every phase has a timeout.
func (g *Guard) Client(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	d := g.Dialer(o.Timeout)
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs, NextProtos: []string{"http/1.1"}}
	t := &http.Transport{
		Proxy:       nil,
		DialContext: d.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialTLS(ctx, d, tlsConfig, o.Timeout, network, addr)
		},
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConnsPerHost:    4,
	}
	return &http.Client{Transport: t, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// tlsError marks a failed TLS handshake, for Category.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// dialTLS connects through the guarded dialer and then shakes hands, so that
// a failure is known to be the connection's or the handshake's.
func dialTLS(ctx context.Context, d *net.Dialer, base *tls.Config, timeout time.Duration, network, addr string) (net.Conn, error) {
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	cfg := base.Clone()
	cfg.ServerName = host
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, &tlsError{err: err}
	}
	return tc, nil
}

// Categories of a failed outbound request, as API clients see them: they say
// what went wrong without the addresses, ports or errors behind it, which
// would turn a delivery log into a port scanner.
const (
	CategoryRefused    = "refused by policy"
	CategoryConnection = "connection failed"
	CategoryTLS        = "TLS"
	CategoryTimeout    = "timeout"
)

// Category returns the category of an error of Client's Do:
// CategoryRefused, CategoryTimeout, CategoryTLS or, for anything else,
// CategoryConnection.
func Category(err error) string {
	var refused *RefusedError
	var tlsErr *tlsError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		return CategoryRefused
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return CategoryTimeout
	case errors.As(err, &tlsErr):
		return CategoryTLS
	}
	return CategoryConnection
}

// StatusCategory is the category of an answer with a status that is not 2xx:
// "HTTP status 503".
func StatusCategory(code int) string {
	return "HTTP status " + strconv.Itoa(code)
}

// IsCategory reports whether s is one of the categories above, an
// "HTTP status N" included.
func IsCategory(s string) bool {
	switch s {
	case CategoryRefused, CategoryConnection, CategoryTLS, CategoryTimeout:
		return true
	}
	n, ok := strings.CutPrefix(s, "HTTP status ")
	code, err := strconv.Atoi(n)
	return ok && err == nil && code >= 100 && code <= 999 && strconv.Itoa(code) == n
}

// privateUseNames are domains reserved for names on private networks: they
// can lead only to addresses an administrator must allow.
var privateUseNames = []string{"internal", "local", "home.arpa", "localdomain", "intranet", "lan", "corp", "private"}

// CheckHost checks the host of an outbound URL when it is configured (a
// webhook or hook is created). It refuses what certainly leads to a refused
// address: an IP literal in a refused range, the same written in one of the
// other IPv4 notations resolvers accept (2130706433, 0x7f000001,
// 017700000001, 127.1) or any such notation at all, localhost and
// *.localhost unless loopback is allowed, and names under private-use
// domains (.internal, .local, .home.arpa …) unless the allow list is not
// empty. It resolves no name: DNS can change, and the dialer checks every
// connection anyway. Returns Invalid.
func (g *Guard) CheckHost(host string) error {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if a, err := netip.ParseAddr(name); err == nil {
		if a = a.WithZone(""); !g.Allowed(a) {
			return refusedHost(host, a)
		}
		return nil
	}
	if labels := strings.Split(name, "."); isNumericLabel(labels[len(labels)-1]) {
		a, ok := parseIPv4Like(labels)
		switch {
		case !ok:
			return imprint.Errorf(imprint.Invalid, "url host %q is neither a name nor a valid IPv4 address", host)
		case !g.Allowed(a):
			return refusedHost(host, a)
		case a.String() != host:
			return imprint.Errorf(imprint.Invalid, "url host %q is the IPv4 address %s in a non-standard notation; write it as %s", host, a, a)
		}
		return nil
	}
	loopback := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if (name == "localhost" || strings.HasSuffix(name, ".localhost")) && !g.Allowed(loopback) {
		return imprint.Errorf(imprint.Invalid, "url host %q is the loopback interface; outbound requests may not reach it unless IMPRINT_OUTBOUND_ALLOW allows 127.0.0.0/8", host)
	}
	if len(g.AllowList()) == 0 {
		for _, d := range privateUseNames {
			if name == d || strings.HasSuffix(name, "."+d) {
				return imprint.Errorf(imprint.Invalid, "url host %q is under .%s, a domain for private networks; outbound requests may not reach private addresses unless IMPRINT_OUTBOUND_ALLOW allows them", host, d)
			}
		}
	}
	return nil
}

func refusedHost(host string, a netip.Addr) error {
	what := "the address " + a.String()
	if a.String() == strings.Trim(host, "[]") {
		what = "an address"
	}
	return imprint.Errorf(imprint.Invalid, "url host %q is %s in a %s range; outbound requests may not reach it unless IMPRINT_OUTBOUND_ALLOW allows it",
		host, what, Classify(a))
}

// isNumericLabel reports whether a DNS label is a number as IPv4 parsers
// read them: decimal, octal with a leading 0, or hexadecimal after 0x. A
// host whose last label is numeric is an IPv4 address or nothing.
func isNumericLabel(s string) bool {
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseIPv4Like parses the labels of a host as inet_aton does: one to four
// numbers, the last filling the bytes the others leave.
func parseIPv4Like(labels []string) (netip.Addr, bool) {
	if len(labels) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, l := range labels {
		n, ok := parseIPv4Number(l)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(labels)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseIPv4Number(s string) (uint64, bool) {
	base := 10
	switch {
	case strings.HasPrefix(s, "0x"):
		if s = s[2:]; s == "" {
			return 0, true
		}
		base = 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	if s == "" || len(s) > 12 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, base, 64)
	return n, err == nil
}

// MaxURLLength is the longest outbound URL accepted.
const MaxURLLength = 2048

// CheckURL returns Invalid unless raw is an absolute https URL (http too
// when allowHTTP) of at most MaxURLLength printable characters, without
// credentials, whose host CheckHost accepts. It is the check of a webhook's
// or a pre-provisioning hook's URL when it is saved; the dialer checks the
// address again on every connection.
func (g *Guard) CheckURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "" || len(raw) > MaxURLLength || err != nil || u.Host == "" || !imprint.SafeText(raw):
		return imprint.Errorf(imprint.Invalid, "url must be an absolute URL of at most %d characters", MaxURLLength)
	case u.Scheme != "https" && !(u.Scheme == "http" && allowHTTP):
		return imprint.Errorf(imprint.Invalid, "url must be https (plain http is allowed only with IMPRINT_WEBHOOK_ALLOW_HTTP)")
	case u.User != nil:
		return imprint.Errorf(imprint.Invalid, "url must not hold credentials; requests are signed with the secret")
	case u.Hostname() == "":
		return imprint.Errorf(imprint.Invalid, "url must name a host")
	}
	return g.CheckHost(u.Hostname())
}

// CheckSecret returns Invalid unless secret, the key outbound requests are
// signed with, is 16 to 256 characters.
func CheckSecret(secret string) error {
	if len(secret) < 16 || len(secret) > 256 {
		return imprint.Errorf(imprint.Invalid, "secret must be 16 to 256 characters")
	}
	return nil
}
