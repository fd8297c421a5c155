package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/gateway"
)

// staticTrust is a trust pool of given certificates.
type staticTrust struct{ pool *x509.CertPool }

func (s staticTrust) TrustPool() *x509.CertPool { return s.pool }

// TestHandshakeRefused refuses at the TLS handshake, before any MQTT,
// certificates that are expired or not yet valid (by the gateway's clock),
// signed by a CA Imprint does not know, or whose only trusted CA is above
// their issuer (whether or not the client sends the intermediate); a
// certificate whose issuer is trusted passes the same handshake.
func TestHandshakeRefused(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	d := f.device("dev-1", imprint.CertificateActive)
	f.policy(d.cert.ID, "connect-any", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)

	var clock testClock // moved by the test, read by the listener's goroutines
	m := f.mqtt(func(c *gateway.MQTTConfig) {
		c.Listener.Now = func() time.Time {
			return clock.now()
		}
	})
	pub := func(d *device) (string, error) {
		return f.mosquitto("mosquitto_pub", m, d, "-V", "mqttv5", "-i", "dev-1", "-t", "t", "-m", "1")
	}
	if out, err := pub(d); err != nil {
		t.Fatalf("mosquitto_pub with a trusted certificate: %v\n%s", err, out)
	}
	refused := func(what string, d *device) {
		t.Helper()
		out, err := pub(d)
		if err == nil || strings.Contains(out, "not authori") {
			t.Errorf("%s: mosquitto_pub: %v, %q; want a TLS failure", what, err, out)
		}
		if _, err := f.tryTLS(m.Addr().String(), d); err == nil {
			t.Errorf("%s: the TLS handshake succeeded", what)
		}
	}
	clock.set(d.cert.NotAfter.Add(time.Second))
	refused("expired", d)
	clock.set(d.cert.NotBefore.Add(-time.Second))
	refused("not yet valid", d)
	clock.set(time.Time{})

	// A CA Imprint does not know.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Stranger CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	devKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	devDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "stranger"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		caCert, devKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	stranger := &device{certFile: f.write("stranger.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: devDER})),
		keyF: f.writeKey("stranger", devKey)}
	refused("unknown CA", stranger)
}

// TestHandshakeCAAbove trusts only the root above the issuing CA: a device
// certificate of the issuing CA is refused, sent alone or with its issuer.
func TestHandshakeCAAbove(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	d := f.device("dev-1", imprint.CertificateActive)
	rootPEM, err := f.ca.ChainPEM(f.ca.Root().ID)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	m := f.mqtt(func(c *gateway.MQTTConfig) { c.Listener.Trust = staticTrust{pool} })
	issuingPEM, err := f.ca.ChainPEM(d.cert.CAID)
	if err != nil {
		t.Fatal(err)
	}
	withChain := &device{certFile: f.write("with-chain.crt", append(mustRead(t, d.certFile), issuingPEM...)), keyF: d.keyF}
	issuing := x509.NewCertPool()
	issuing.AppendCertsFromPEM(issuingPEM)
	control := f.mqtt(func(c *gateway.MQTTConfig) { c.Listener.Trust = staticTrust{issuing} })
	if c, err := f.tryTLS(control.Addr().String(), d); err != nil {
		t.Fatalf("TLS handshake with the issuing CA trusted: %v", err)
	} else {
		c.Close()
	}
	for name, d := range map[string]*device{"alone": d, "with its chain": withChain} {
		out, err := f.mosquitto("mosquitto_pub", m, d, "-V", "mqttv5", "-i", "dev-1", "-t", "t", "-m", "1")
		if err == nil {
			t.Errorf("%s: mosquitto_pub succeeded with only the root trusted:\n%s", name, out)
		}
		if _, err := f.tryTLS(m.Addr().String(), d); err == nil {
			t.Errorf("%s: the TLS handshake succeeded with only the root trusted", name)
		}
	}
}

// TestDeadlines closes a TCP client that sends nothing after the handshake
// deadline, and a TLS client that sends no CONNECT after the first-packet
// deadline.
func TestDeadlines(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	d := f.device("dev-1", imprint.CertificateActive)
	const deadline = 300 * time.Millisecond
	m := f.mqtt(func(c *gateway.MQTTConfig) {
		c.Listener.HandshakeTimeout, c.Listener.FirstPacketTimeout = deadline, deadline
	})
	closedWithin := func(what string, c net.Conn) {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(start.Add(10 * time.Second))
		_, err := io.ReadAll(c)
		if isTimeout(err) {
			t.Errorf("%s: still open after 10 s", what)
		}
		if took := time.Since(start); took < deadline/2 {
			t.Errorf("%s: closed after %v, before the deadline of %v", what, took, deadline)
		}
	}
	raw, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	closedWithin("silent TCP client", raw)

	tc := f.dialTLS(m.Addr().String(), d)
	defer tc.Close()
	closedWithin("TLS client sending no CONNECT", tc)
}

// TestCaps closes at once a connection from an address that has as many
// connections open (in their handshake) as its cap, leaves those open, and
// admits one again when one of them ends; and the same for the cap on all
// connections.
func TestCaps(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	const max = 3
	m := f.mqtt(func(c *gateway.MQTTConfig) {
		c.Listener.MaxConnsPerAddr = max
		c.Listener.HandshakeTimeout = time.Minute
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", m.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// open reports whether the server keeps c open (a read times out rather
	// than meeting the end of the stream).
	open := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return isTimeout(err)
	}
	var conns []net.Conn
	for range max {
		conns = append(conns, dial())
	}
	for i, c := range conns {
		if !open(c) {
			t.Fatalf("connection %d of %d closed", i+1, max)
		}
	}
	over := dial()
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := over.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("connection over the cap: read error %v, want it closed", err)
	}
	conns[0].Close()
	eventually(t, 10*time.Second, "a connection admitted again after one ended", func() bool { return open(dial()) })

	// The cap on all connections, whatever their address.
	m = f.mqtt(func(c *gateway.MQTTConfig) {
		c.Listener.MaxConns = 2
		c.Listener.HandshakeTimeout = time.Minute
	})
	if a, b := dial(), dial(); !open(a) || !open(b) {
		t.Fatal("connections under the total cap closed")
	}
	over = dial()
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := over.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("connection over the total cap: read error %v, want it closed", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestNilTrustPool refuses every client when the trust source has no pool,
// rather than trusting the system's roots (which here hold Imprint's CAs).
func TestNilTrustPool(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	t.Setenv("SSL_CERT_FILE", f.caFile) // the system roots, if they are ever read
	t.Setenv("SSL_CERT_DIR", t.TempDir())
	d := f.device("dev-1", imprint.CertificateActive)
	m := f.mqtt(func(c *gateway.MQTTConfig) { c.Listener.Trust = staticTrust{nil} })
	if c, err := f.tryTLS(m.Addr().String(), d); err == nil {
		c.Close()
		t.Error("TLS handshake succeeded with no trust pool")
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close() error = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close() error = %v", err)
	}
}

// testClock is a clock a test moves while the code under test reads it from
// other goroutines; the zero time means the real one.
type testClock struct{ at atomic.Int64 }

func (c *testClock) set(t time.Time) {
	if t.IsZero() {
		c.at.Store(0)
		return
	}
	c.at.Store(t.UnixNano())
}

func (c *testClock) now() time.Time {
	if v := c.at.Load(); v != 0 {
		return time.Unix(0, v)
	}
	return time.Now()
}

// switchTrust is a trust pool a test replaces, as a CA's change does.
type switchTrust struct{ pool atomic.Pointer[x509.CertPool] }

func (s *switchTrust) TrustPool() *x509.CertPool { return s.pool.Load() }

// TestHandshakeAfterTrustChange: a certificate verified before is refused
// at once when the trust pool no longer holds its CA, and accepted again
// when it does.
func TestHandshakeAfterTrustChange(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	d := f.device("dev-1", imprint.CertificateActive)
	var trust switchTrust
	trusted := f.ca.TrustPool()
	trust.pool.Store(trusted)
	m := f.mqtt(func(c *gateway.MQTTConfig) { c.Listener.Trust = &trust })
	handshake := func() error {
		c, err := f.tryTLS(m.Addr().String(), d)
		if err == nil {
			c.Close()
		}
		return err
	}
	for i := range 2 { // the second from what the first verified
		if err := handshake(); err != nil {
			t.Fatalf("handshake %d with a trusted certificate: %v", i+1, err)
		}
	}
	trust.pool.Store(x509.NewCertPool()) // its CA deactivated
	if err := handshake(); err == nil {
		t.Error("handshake succeeded after the certificate's CA left the trust pool")
	}
	trust.pool.Store(trusted)
	if err := handshake(); err != nil {
		t.Errorf("handshake after the CA came back: %v", err)
	}
}
