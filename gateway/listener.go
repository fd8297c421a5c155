// Package gateway is Imprint's device gateway: one mutual-TLS front door
// (trust from the ACTIVE CAs, deadlines on the handshake and on the first
// packet, caps per source address and in total) serving MQTT on an embedded
// broker and the HTTPS device API. It decides nothing about devices itself:
// every connection is put to the provisioning engine, and every live MQTT
// session is kept in a registry so that a certificate whose standing changes
// is disconnected at once.
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ListenerConfig.
const (
	DefaultMaxConnsPerAddr    = 64
	DefaultMaxConns           = 100_000
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultFirstPacketTimeout = 10 * time.Second
)

// ALPN protocol names a device may offer: MQTT over TLS, and the name AWS's
// device SDKs send for MQTT on port 443.
const (
	ALPNMQTT    = "mqtt"
	ALPNAWSMQTT = "x-amzn-mqtt-ca"
)

// TrustSource gives the CAs whose certificates a device may present: the
// direct issuers of device certificates that are ACTIVE now.
// *ca.Authority is one; its pool follows the CAs in the database.
type TrustSource interface {
	// TrustPool returns the pool of the ACTIVE CAs that sign device
	// certificates. It is read on every handshake and never changed.
	TrustPool() *x509.CertPool
}

// ListenerConfig configures the front door. Address, ServerCertificate and
// Trust are required; zero durations and counts take the defaults.
type ListenerConfig struct {
	// Address is the TCP address to listen on, such as "127.0.0.1:8883".
	Address string
	// ServerCertificate is the listener's own certificate, with its key and
	// its chain; SetServerCertificate replaces it while serving.
	ServerCertificate tls.Certificate
	Trust             TrustSource
	// NextProtos are the ALPN protocols preferred; a client offering none of
	// them is served all the same, with no protocol selected.
	NextProtos []string
	// MaxConnsPerAddr caps the connections from one source address, open or
	// in their handshake (DefaultMaxConnsPerAddr if 0); MaxConns caps them
	// all (DefaultMaxConns if 0). A connection over a cap is closed at once.
	MaxConnsPerAddr int
	MaxConns        int
	// HandshakeTimeout bounds the TLS handshake; FirstPacketTimeout the wait
	// for the first bytes of the protocol after it (an MQTT CONNECT).
	HandshakeTimeout   time.Duration
	FirstPacketTimeout time.Duration
	// Now is the clock certificates are checked against; time.Now if nil.
	Now func() time.Time
	Log *slog.Logger
}

// Listener is the mutual-TLS front door: it accepts TCP connections within
// the caps, runs the TLS handshake under a deadline, and hands on
// connections whose client certificate's direct issuer is a trusted CA. It
// is safe for concurrent use.
type Listener struct {
	cfg  ListenerConfig
	ln   net.Listener
	cert atomic.Pointer[tls.Certificate]
	base *tls.Config

	verified verifiedChains // client certificates verified against the trust pool

	mu      sync.Mutex
	perAddr map[netip.Addr]int
	total   int
	open    map[net.Conn]struct{} // every accepted connection not closed yet
	closed  bool
	loops   sync.WaitGroup // the accept loops
	wg      sync.WaitGroup // one goroutine per connection until it is handed on
}

// defaults gives a protocol server's listener its logger (log, or the
// default one) and ALPN protocols (protos) where none are set, and returns
// the logger.
func (c *ListenerConfig) defaults(log *slog.Logger, protos ...string) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	if c.Log == nil {
		c.Log = log
	}
	if c.NextProtos == nil {
		c.NextProtos = protos
	}
	return log
}

// Listen opens the listener's address.
func Listen(cfg ListenerConfig) (*Listener, error) {
	if cfg.Trust == nil {
		return nil, errors.New("gateway: a trust source is required")
	}
	if len(cfg.ServerCertificate.Certificate) == 0 {
		return nil, errors.New("gateway: a server certificate is required")
	}
	cfg.MaxConnsPerAddr = orDefault(cfg.MaxConnsPerAddr, DefaultMaxConnsPerAddr)
	cfg.MaxConns = orDefault(cfg.MaxConns, DefaultMaxConns)
	cfg.HandshakeTimeout = orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	cfg.FirstPacketTimeout = orDefault(cfg.FirstPacketTimeout, DefaultFirstPacketTimeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", cfg.Address, err)
	}
	l := &Listener{cfg: cfg, ln: ln, perAddr: map[netip.Addr]int{}, open: map[net.Conn]struct{}{}}
	l.SetServerCertificate(cfg.ServerCertificate)
	l.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAnyClientCert, // verified by verify, against the pool of the moment
		NextProtos: cfg.NextProtos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return l.cert.Load(), nil
		},
	}
	return l, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// SetServerCertificate replaces the listener's own certificate for the
// handshakes that follow (a renewal).
func (l *Listener) SetServerCertificate(cert tls.Certificate) { l.cert.Store(&cert) }

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Conn is a connection through the front door: its handshake is done and
// its client certificate verified. Closing it frees its place under the
// caps.
type Conn struct {
	*tls.Conn
	l     *Listener
	raw   net.Conn
	addr  netip.Addr
	chain []*x509.Certificate
	once  sync.Once

	refused error // why the client's certificate was refused, if it was
}

// Chain returns the client's verified chain: its certificate, then the
// trusted CA that signed it.
func (c *Conn) Chain() []*x509.Certificate { return c.chain }

// SourceIP returns the client's address, as the socket says.
func (c *Conn) SourceIP() netip.Addr { return c.addr }

// Close closes the connection.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.raw, c.addr) })
	return err
}

// serve accepts connections until the listener is closed, and calls handle
// in a new goroutine with each that passes the handshake, its read deadline
// set for the first packet. handle owns the connection.
func (l *Listener) serve(handle func(*Conn)) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.loops.Add(1)
	l.mu.Unlock()
	defer l.loops.Done()
	var backoff time.Duration
	for {
		raw, err := l.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say: wait a little, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.cfg.Log.Error("device listener cannot accept", "err", err, "retryIn", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		addr := sourceAddr(raw)
		if !l.admit(raw, addr) {
			raw.Close()
			continue
		}
		go func() {
			defer l.wg.Done()
			c, err := l.handshake(raw, addr)
			if err != nil {
				level := slog.LevelDebug // a timeout, a client gone, a flood
				if c != nil && c.refused != nil {
					level, err = slog.LevelInfo, c.refused
				}
				l.cfg.Log.Log(context.Background(), level, "device handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
				raw.Close()
				l.release(raw, addr)
				return
			}
			handle(c)
		}()
	}
}

func sourceAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit counts a new connection under the caps and reports whether it is
// within them. When it is, a goroutine is counted for it too.
func (l *Listener) admit(raw net.Conn, addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.total >= l.cfg.MaxConns || l.perAddr[addr] >= l.cfg.MaxConnsPerAddr {
		l.cfg.Log.Debug("device connection over the cap closed", "remote", addr.String(),
			"fromAddress", l.perAddr[addr], "total", l.total)
		return false
	}
	l.total++
	l.perAddr[addr]++
	l.open[raw] = struct{}{}
	l.wg.Add(1)
	return true
}

// release frees a connection's place under the caps.
func (l *Listener) release(raw net.Conn, addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[raw]; !ok {
		return
	}
	delete(l.open, raw)
	l.total--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
}

// handshake runs the TLS handshake on raw under the handshake deadline and
// verifies the client's certificate. On failure it returns the error and
// the connection as far as it went.
func (l *Listener) handshake(raw net.Conn, addr netip.Addr) (*Conn, error) {
	c := &Conn{l: l, raw: raw, addr: addr}
	cfg := l.base.Clone()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		c.chain, c.refused = l.verify(cs.PeerCertificates)
		return c.refused
	}
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) == 0 || slices.ContainsFunc(hello.SupportedProtos, func(p string) bool {
			return slices.Contains(cfg.NextProtos, p)
		}) {
			return nil, nil
		}
		// A protocol name we do not know: serve the device all the same,
		// selecting none, rather than fail the handshake.
		other := cfg.Clone()
		other.NextProtos, other.GetConfigForClient = nil, nil
		return other, nil
	}
	deadline := time.Now().Add(l.cfg.HandshakeTimeout)
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c.Conn = tls.Server(raw, cfg)
	if err := c.Conn.HandshakeContext(ctx); err != nil {
		return c, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return c, err
	}
	if err := raw.SetReadDeadline(time.Now().Add(l.cfg.FirstPacketTimeout)); err != nil {
		return c, err
	}
	return c, nil
}

// verify checks a client's certificate: currently valid, for client
// authentication, and signed directly by a CA of the trust pool (RFC 5280
// section 6; no intermediate is taken from the client, so a certificate
// whose trusted CA is above its issuer is refused). It returns the chain,
// the certificate then its issuer.
func (l *Listener) verify(certs []*x509.Certificate) ([]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("no client certificate")
	}
	pool := l.cfg.Trust.TrustPool()
	if pool == nil { // never the system's roots
		return nil, errors.New("no CA is trusted")
	}
	now := l.cfg.Now()
	if ch := l.verified.get(certs[0], pool, now); ch != nil {
		return ch, nil
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	for _, ch := range chains {
		if len(ch) == 2 {
			l.verified.put(ch, pool)
			return ch, nil
		}
	}
	return nil, errors.New("client certificate is a CA's own certificate")
}

// Close stops accepting, closes every connection not handed on yet and
// waits for their goroutines. Connections handed on are their owner's to
// close; they are closed here too, should their owner not have done it.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.ln.Close()
	for c := range l.open {
		c.Close()
	}
	l.mu.Unlock()
	l.loops.Wait()
	l.wg.Wait()
	return err
}
