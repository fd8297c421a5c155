package outbound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/outbound"
)

var loopbackAllowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// counter is a receiver that counts the requests that reach it.
func counter(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func get(c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestClientRefuses checks that the dialer refuses internal addresses,
// literal or resolved from a name, before any packet leaves.
func TestClientRefuses(t *testing.T) {
	t.Parallel()
	srv, n := counter(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	c := outbound.New(nil).Client(outbound.ClientOptions{})
	for _, url := range []string{
		srv.URL,
		strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), // a name that resolves to loopback
		strings.Replace(srv.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1),
		"http://[::1]:" + itoa(port),
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://10.0.0.1:5432/",
		"http://[64:ff9b::a9fe:a9fe]/",
		"http://0.0.0.0:" + itoa(port),
		"https://" + strings.TrimPrefix(srv.URL, "http://"),
	} {
		_, err := get(c, url)
		var refused *outbound.RefusedError
		if !errors.As(err, &refused) || outbound.Category(err) != outbound.CategoryRefused {
			t.Errorf("POST %s = %v (category %q), want refused by policy", url, err, outbound.Category(err))
		}
	}
	if got := n.Load(); got != 0 {
		t.Errorf("the loopback receiver got %d requests, want 0", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestClientAllowList(t *testing.T) {
	t.Parallel()
	srv, n := counter(t)
	c := outbound.New(loopbackAllowed).Client(outbound.ClientOptions{})
	if status, err := get(c, srv.URL); err != nil || status != 200 {
		t.Fatalf("POST %s with 127.0.0.0/8 allowed = %d, %v; want 200", srv.URL, status, err)
	}
	if status, err := get(c, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)); err != nil || status != 200 {
		t.Fatalf("POST to localhost with 127.0.0.0/8 allowed = %d, %v; want 200", status, err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("the receiver got %d requests, want 2", got)
	}
	if _, err := get(c, "http://169.254.169.254/"); outbound.Category(err) != outbound.CategoryRefused {
		t.Errorf("link-local with only loopback allowed = %v, want refused by policy", err)
	}
}

// TestClientRedirects checks that a redirect is the answer, not followed.
func TestClientRedirects(t *testing.T) {
	t.Parallel()
	srv, n := counter(t)
	c := outbound.New(loopbackAllowed).Client(outbound.ClientOptions{})
	if status, err := get(c, srv.URL+"/redirect"); err != nil || status != http.StatusFound {
		t.Errorf("POST to a redirect = %d, %v; want 302", status, err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("the receiver got %d requests, want 1 (the redirect not followed)", got)
	}
}

// TestClientIgnoresProxyEnvironment checks that no proxy stands between
// the guard and the address it checks.
func TestClientIgnoresProxyEnvironment(t *testing.T) {
	proxy, hits := counter(t)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	c := outbound.New(loopbackAllowed).Client(outbound.ClientOptions{}) // the proxy's address is allowed
	if tr, ok := c.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Error("the client's transport uses a proxy")
	}
	// Through the proxy the guard would see only the proxy's (allowed)
	// address; directly, the target is refused.
	if _, err := get(c, "http://169.254.169.254/"); outbound.Category(err) != outbound.CategoryRefused {
		t.Errorf("POST through the environment's proxy = %v, want refused by policy", err)
	}
	if hits.Load() != 0 {
		t.Error("the request went through the environment's proxy")
	}
}

func TestCategory(t *testing.T) {
	t.Parallel()
	allowed := outbound.New(loopbackAllowed)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
		want   string
	}{
		{"refused", outbound.New(nil).Client(outbound.ClientOptions{}), tlsSrv.URL, outbound.CategoryRefused},
		{"untrusted certificate", allowed.Client(outbound.ClientOptions{}), tlsSrv.URL, outbound.CategoryTLS},
		{"TLS to plain HTTP", allowed.Client(outbound.ClientOptions{}), strings.Replace(slow.URL, "http:", "https:", 1), outbound.CategoryTLS},
		{"closed port", allowed.Client(outbound.ClientOptions{}), closed, outbound.CategoryConnection},
		{"no answer", allowed.Client(outbound.ClientOptions{Timeout: 300 * time.Millisecond}), slow.URL, outbound.CategoryTimeout},
		{"trusted", allowed.Client(outbound.ClientOptions{RootCAs: pool}), tlsSrv.URL, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, err := get(tc.client, tc.url)
			if tc.want == "" {
				if err != nil || status != 200 {
					t.Fatalf("POST %s = %d, %v; want 200", tc.url, status, err)
				}
				return
			}
			if got := outbound.Category(err); err == nil || got != tc.want {
				t.Errorf("Category(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

func TestStatusCategory(t *testing.T) {
	t.Parallel()
	if got := outbound.StatusCategory(503); got != "HTTP status 503" {
		t.Errorf("StatusCategory(503) = %q", got)
	}
	for s, want := range map[string]bool{
		"refused by policy": true, "connection failed": true, "TLS": true, "timeout": true,
		"HTTP status 500": true, "HTTP status 302": true,
		"HTTP status ": false, "HTTP status 5x": false, "HTTP status 0500": false,
		`Post "http://127.0.0.1:5432/": dial tcp 127.0.0.1:5432: connect: connection refused`: false,
		"the endpoint answered 500 Internal Server Error":                                     false,
	} {
		if got := outbound.IsCategory(s); got != want {
			t.Errorf("IsCategory(%q) = %v, want %v", s, got, want)
		}
	}
}
