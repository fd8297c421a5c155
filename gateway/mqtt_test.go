package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/gateway"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

const connectOwnID = `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:Certificate.Subject.CommonName}"},
	{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:*:*:topic/${iot:ClientId}/*"},
	{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/${iot:ClientId}/*"}]}`

// mqtt starts an MQTT server on 127.0.0.1 that the engine's standing
// changes reach; it is closed when the test ends.
func (f *fixture) mqtt(opts ...func(*gateway.MQTTConfig)) *gateway.MQTT {
	f.t.Helper()
	cfg := gateway.MQTTConfig{Listener: f.lc, Engine: f.engine, Log: f.log}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := gateway.NewMQTT(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := m.Serve(); err != nil {
		f.t.Fatal(err)
	}
	f.relay.mu.Lock()
	f.relay.to = append(f.relay.to, m)
	f.relay.reg = append(f.relay.reg, m)
	f.relay.mu.Unlock()
	f.t.Cleanup(func() { m.Close() })
	return m
}

// mosquitto runs a mosquitto client tool as d against m with the given
// arguments, and returns its combined output and error.
func (f *fixture) mosquitto(tool string, m *gateway.MQTT, d *device, args ...string) (string, error) {
	f.t.Helper()
	cmd := f.mosquittoCmd(tool, m, d, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		f.t.Fatalf("%s %v did not end within 20 s:\n%s", tool, args, out.String())
		return "", nil
	}
}

func (f *fixture) mosquittoCmd(tool string, m *gateway.MQTT, d *device, args ...string) *exec.Cmd {
	f.t.Helper()
	path := mustTool(f.t, tool)
	_, port, _ := net.SplitHostPort(m.Addr().String())
	base := []string{"-h", "127.0.0.1", "-p", port, "--cafile", f.caFile, "--cert", d.certFile, "--key", d.keyF}
	return exec.Command(path, append(base, args...)...)
}

// startTool starts a mosquitto client tool as mosquittoCmd makes it, its
// output kept in out; exited takes the error it ends with.
func (f *fixture) startTool(tool string, m *gateway.MQTT, d *device, args ...string) (cmd *exec.Cmd, out *bytes.Buffer, exited <-chan error) {
	f.t.Helper()
	cmd, out = f.mosquittoCmd(tool, m, d, args...), &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	return cmd, out, ended
}

// TestMQTTConnect connects an ACTIVE factory-issued certificate whose
// policy allows iot:Connect on its own client ID with mosquitto_pub and
// mosquitto_sub over MQTT 5 and 3.1.1: it publishes where its policy
// allows, a subscriber receives, and a subscription or a CONNECT outside
// the policy is refused.
func TestMQTTConnect(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt()
	d := f.device("sensor-1", imprint.CertificateActive)
	f.policy(d.cert.ID, "own", connectOwnID)

	for _, v := range []string{"mqttv5", "mqttv311"} {
		if out, err := f.mosquitto("mosquitto_pub", m, d, "-V", v, "-i", "sensor-1", "-q", "1", "-t", "sensor-1/temp", "-m", "21"); err != nil {
			t.Errorf("mosquitto_pub %s on an allowed topic: %v\n%s", v, err, out)
		}
	}

	// A subscriber on its own topics receives what it publishes.
	sub := f.mosquittoCmd("mosquitto_sub", m, d, "-V", "mqttv5", "-i", "sensor-1", "-q", "1", "-t", "sensor-1/cmd", "-C", "1")
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer sub.Process.Kill()
	eventually(t, 10*time.Second, "the subscriber's session", func() bool { return m.Sessions() == 1 })
	d2 := f.device("sensor-2", imprint.CertificateActive)
	f.policy(d2.cert.ID, "publish-to-sensor-1", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/sensor-1/cmd"}]}`)
	// The subscription may not be in place yet when the session is: publish
	// until the message arrives.
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		got <- line
	}()
	deadline := time.After(10 * time.Second)
publish:
	for {
		if out, err := f.mosquitto("mosquitto_pub", m, d2, "-V", "mqttv5", "-i", "sensor-2", "-q", "1", "-t", "sensor-1/cmd", "-m", "reboot"); err != nil {
			t.Fatalf("mosquitto_pub to sensor-1/cmd: %v\n%s", err, out)
		}
		select {
		case line := <-got:
			if strings.TrimSpace(line) != "reboot" {
				t.Errorf("mosquitto_sub got %q, want reboot", line)
			}
			break publish
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("mosquitto_sub received nothing")
		}
	}
	if err := sub.Wait(); err != nil {
		t.Errorf("mosquitto_sub: %v", err)
	}

	// A subscription outside the policy is refused.
	out, err := f.mosquitto("mosquitto_sub", m, d, "-V", "mqttv5", "-i", "sensor-1", "-t", "other/#", "-C", "1", "-W", "5")
	if !strings.Contains(out, "All subscription requests were denied") {
		t.Errorf("mosquitto_sub on other/#: %v, %q; want the subscription denied", err, out)
	}
	// A publication outside it is refused: MQTT 5 answers PUBACK 0x87.
	out, err = f.mosquitto("mosquitto_pub", m, d, "-V", "mqttv5", "-i", "sensor-1", "-q", "1", "-t", "other/temp", "-m", "1", "-d")
	if !strings.Contains(out, "135") && !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("mosquitto_pub on other/temp: %v, %q; want PUBACK not authorized (135)", err, out)
	}
	// A retained publication needs iot:RetainPublish, which the policy
	// does not give: nothing is retained.
	out, err = f.mosquitto("mosquitto_pub", m, d, "-V", "mqttv5", "-i", "sensor-1", "-q", "1", "-r", "-t", "sensor-1/state", "-m", "on", "-d")
	if !strings.Contains(out, "135") && !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("retained mosquitto_pub on sensor-1/state: %v, %q; want PUBACK not authorized (135)", err, out)
	}
	// $SYS is nobody's, whatever the policy says.
	all := f.device("all", imprint.CertificateActive)
	f.policy(all.cert.ID, "everything", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`)
	out, err = f.mosquitto("mosquitto_sub", m, all, "-V", "mqttv5", "-i", "all", "-t", "$SYS/#", "-C", "1", "-W", "5")
	if !strings.Contains(out, "All subscription requests were denied") {
		t.Errorf("mosquitto_sub on $SYS/#: %v, %q; want the subscription denied", err, out)
	}
	// A filter without wildcards needs iot:Receive on its topic too; one
	// with wildcards only iot:Subscribe.
	deaf := f.device("deaf", imprint.CertificateActive)
	f.policy(deaf.cert.ID, "subscribe-only", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/x/*"}]}`)
	out, err = f.mosquitto("mosquitto_sub", m, deaf, "-V", "mqttv5", "-i", "deaf", "-t", "x/y", "-C", "1", "-W", "5")
	if !strings.Contains(out, "All subscription requests were denied") {
		t.Errorf("mosquitto_sub on x/y without iot:Receive: %v, %q; want the subscription denied", err, out)
	}
	out, _ = f.mosquitto("mosquitto_sub", m, deaf, "-V", "mqttv5", "-i", "deaf", "-t", "x/+", "-C", "1", "-W", "1")
	if strings.Contains(out, "denied") {
		t.Errorf("mosquitto_sub on x/+ with iot:Subscribe: %q; want it granted", out)
	}
	// A client ID the policy does not allow cannot connect.
	out, err = f.mosquitto("mosquitto_pub", m, d, "-V", "mqttv5", "-i", "someone-else", "-t", "sensor-1/temp", "-m", "1")
	if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("mosquitto_pub as someone-else: %v, %q; want not authorised", err, out)
	}
	eventually(t, 5*time.Second, "no session left", func() bool { return m.Sessions() == 0 })
}

// TestMQTTRefused refuses, with the reason, certificates that are not
// ACTIVE, one without a policy and one Imprint does not know: mosquitto_pub
// is told "not authorised" over MQTT 5 and 3.1.1, and an MQTT 5 client reads
// the reason string of the CONNACK.
func TestMQTTRefused(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt()
	cases := []struct {
		name   string
		status imprint.CertificateStatus
		policy bool
		code   byte
		reason string
	}{
		{"inactive", imprint.CertificateInactive, true, 0x87, "is INACTIVE"},
		{"pending", imprint.CertificatePendingActivation, true, 0x87, "is PENDING_ACTIVATION"},
		{"revoked", imprint.CertificateRevoked, true, 0x87, "is REVOKED"},
		{"no-policy", imprint.CertificateActive, false, 0x87, "do not allow iot:Connect on client/no-policy"},
		{"unknown", "", false, 0x87, "is not registered"},
	}
	for _, c := range cases {
		status := c.status
		if status == imprint.CertificateRevoked {
			status = imprint.CertificateActive
		}
		d := f.device(c.name, status)
		if c.status == imprint.CertificateRevoked {
			if _, err := f.engine.Revoke(ctx, imprint.SystemActor, d.cert.ID, imprint.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
		}
		if c.policy {
			f.policy(d.cert.ID, "connect-"+c.name, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
		}
		for _, v := range []string{"mqttv5", "mqttv311"} {
			out, err := f.mosquitto("mosquitto_pub", m, d, "-V", v, "-i", c.name, "-t", "t", "-m", "1")
			if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
				t.Errorf("%s: mosquitto_pub %s: %v, %q; want not authorised", c.name, v, err, out)
			}
		}
		code, reason := f.connectV5(m, d, c.name)
		if code != c.code || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: CONNACK %#x %q, want %#x saying %q", c.name, code, reason, c.code, c.reason)
		}
	}
	if n := m.Sessions(); n != 0 {
		t.Errorf("%d sessions live after refusals", n)
	}
}

// connectV5 connects d to m over TLS, sends an MQTT 5 CONNECT and returns
// the CONNACK's reason code and reason string; after a refusal, the
// connection must be closed.
func (f *fixture) connectV5(m *gateway.MQTT, d *device, clientID string) (byte, string) {
	f.t.Helper()
	conn := f.dialTLS(m.Addr().String(), d)
	defer conn.Close()
	r := bufio.NewReader(conn)
	code, reason := f.connect(conn, r, 5, 30, clientID)
	if code >= 0x80 {
		if _, err := r.ReadByte(); err == nil {
			f.t.Errorf("connection still open after CONNACK %#x", code)
		}
	}
	return code, reason
}

// connect sends a CONNECT of the given protocol version (4 for 3.1.1, 5)
// and keepalive on conn and returns the CONNACK's reason code and reason
// string.
func (f *fixture) connect(conn net.Conn, r *bufio.Reader, version byte, keepalive uint16, clientID string) (byte, string) {
	f.t.Helper()
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: keepalive,
			ClientIdentifier: clientID}}
	if err := pk.ConnectEncode(&buf); err != nil {
		f.t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		f.t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	b, err := r.ReadByte()
	if err != nil {
		f.t.Fatalf("read CONNACK: %v", err)
	}
	fh := packets.FixedHeader{}
	if err := fh.Decode(b); err != nil || fh.Type != packets.Connack {
		f.t.Fatalf("first packet %v (%v), want CONNACK", fh.Type, err)
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		f.t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		f.t.Fatal(err)
	}
	ack := packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	if err := ack.ConnackDecode(body); err != nil {
		f.t.Fatal(err)
	}
	return ack.ReasonCode, ack.Properties.ReasonString
}

// dialTLS makes a TLS connection to addr with d's certificate.
func (f *fixture) dialTLS(addr string, d *device) *tls.Conn {
	f.t.Helper()
	conn, err := f.tryTLS(addr, d)
	if err != nil {
		f.t.Fatalf("TLS handshake: %v", err)
	}
	return conn
}

func (f *fixture) tryTLS(addr string, d *device) (*tls.Conn, error) {
	f.t.Helper()
	return f.tryTLSWith(addr, d, "127.0.0.1", "x-amzn-mqtt-ca")
}

// tryTLSWith makes a TLS connection to addr with d's certificate, the
// given server name (sent as SNI unless an IP address) and ALPN protocols.
func (f *fixture) tryTLSWith(addr string, d *device, serverName string, alpn ...string) (*tls.Conn, error) {
	f.t.Helper()
	cert, err := tls.LoadX509KeyPair(d.certFile, d.keyF)
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(f.t, f.caFile))
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: serverName, NextProtos: alpn})
	if err != nil {
		return nil, err
	}
	// TLS 1.3 reports a refused client certificate on the first read.
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
		conn.Close()
		return nil, err
	}
	conn.SetReadDeadline(time.Time{})
	return conn, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestMQTTRevoke revokes a certificate while mosquitto_sub holds a session
// with it: the session is closed within a second, and the client, refused
// when it tries again, ends.
func TestMQTTRevoke(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt()
	for _, v := range []string{"mqttv5", "mqttv311"} {
		d := f.device("rev-"+v, imprint.CertificateActive)
		f.policy(d.cert.ID, "own-"+v, connectOwnID)
		sub, out, exited := f.startTool("mosquitto_sub", m, d, "-V", v, "-i", "rev-"+v, "-t", "rev-"+v+"/cmd")
		eventually(t, 10*time.Second, "the subscriber's session", func() bool { return m.Sessions() == 1 })
		if _, err := f.engine.Revoke(ctx, imprint.SystemActor, d.cert.ID, imprint.ReasonKeyCompromise); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, v+" session closed after the revocation", func() bool { return m.Sessions() == 0 })
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			sub.Process.Kill()
			<-exited
			t.Errorf("%s: mosquitto_sub still running 15 s after the revocation:\n%s", v, out.String())
		}
	}
}

// TestMQTTStandingStillAllowed: a notification that a certificate's
// standing changed, when the change leaves it allowed (its activation by its
// own first connection under JITP, on this replica or another), closes none
// of its sessions; the session of a certificate now refused is closed.
func TestMQTTStandingStillAllowed(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt()
	d := f.device("still-1", imprint.CertificateActive)
	f.policy(d.cert.ID, "own", connectOwnID)
	sub, out, exited := f.startTool("mosquitto_sub", m, d, "-V", "mqttv5", "-i", "still-1", "-t", "still-1/cmd")
	defer func() {
		sub.Process.Kill()
		<-exited
	}()
	eventually(t, 10*time.Second, "the subscriber's session", func() bool { return m.Sessions() == 1 })

	m.Notify(imprint.ChannelRevocations, d.cert.CAID+" "+d.cert.Serial)
	m.Invalidate(d.cert.CAID, d.cert.Serial)
	m.WaitDecisions()
	if n := m.Sessions(); n != 1 {
		t.Fatalf("sessions after a change that leaves the certificate ACTIVE = %d, want 1", n)
	}
	select {
	case err := <-exited:
		t.Fatalf("mosquitto_sub ended (%v) after a change that leaves its certificate ACTIVE:\n%s", err, out.String())
	default:
	}

	if _, err := f.db.SetCertificateStatus(ctx, d.cert.ID, imprint.CertificateInactive, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	m.Notify(imprint.ChannelRevocations, d.cert.CAID+" "+d.cert.Serial)
	m.WaitDecisions()
	if n := m.Sessions(); n != 0 {
		t.Errorf("sessions after the certificate was made INACTIVE = %d, want 0", n)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMQTTNotify closes sessions on the notifications of the revocation
// channel from PostgreSQL, as on a replica that did not make the change:
// a certificate revoked or deactivated in the database (not through this
// gateway's engine) loses its session within a second; a notification for
// many certificates of a CA ("<caID> *") has every session of the CA decided
// again, and only those now refused are closed.
func TestMQTTNotify(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt()
	type sub struct {
		d      *device
		exited chan struct{} // closed when mosquitto_sub has ended
	}
	start := func(name string) *sub {
		d := f.device(name, imprint.CertificateActive)
		f.policy(d.cert.ID, "own-"+name, connectOwnID)
		cmd := f.mosquittoCmd("mosquitto_sub", m, d, "-V", "mqttv5", "-i", name, "-t", name+"/cmd")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s := &sub{d: d, exited: make(chan struct{})}
		go func() {
			cmd.Wait()
			close(s.exited)
		}()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-s.exited
		})
		return s
	}
	ended := func(what string, s *sub) {
		t.Helper()
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("%s: mosquitto_sub still running 15 s later", what)
		}
	}
	a, b, c, d := start("a"), start("b"), start("c"), start("d")
	eventually(t, 10*time.Second, "four sessions", func() bool { return m.Sessions() == 4 })

	lctx, cancel := context.WithCancel(ctx)
	listening := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.db.Listen(lctx, func(channel, payload string) {
			if payload == "" {
				select {
				case listening <- struct{}{}:
				default:
				}
			}
			m.Notify(channel, payload)
		}, imprint.ChannelRevocations)
	}()
	defer func() { cancel(); <-done }()
	<-listening

	if _, err := f.db.RevokeCertificate(ctx, a.d.cert.ID, imprint.ReasonKeyCompromise, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the revoked certificate's session closed", func() bool { return m.Sessions() == 3 })
	ended("revoked", a)
	if _, err := f.db.SetCertificateStatus(ctx, b.d.cert.ID, imprint.CertificateInactive, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the deactivated certificate's session closed", func() bool { return m.Sessions() == 2 })
	ended("deactivated", b)

	// Many at once: d is made INACTIVE with no notification of its own.
	conn := pgtest.Conn(t, f.url)
	if _, err := conn.Exec(ctx, `UPDATE certificates SET status = 'INACTIVE' WHERE id = $1`, d.d.cert.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_notify($1, $2)`, imprint.ChannelRevocations, d.d.cert.CAID+" *"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the session of the certificate made INACTIVE closed", func() bool { return m.Sessions() == 1 })
	ended("inactive in bulk", d)
	select {
	case <-c.exited:
		t.Errorf("the ACTIVE certificate's mosquitto_sub ended")
	default:
	}
}

// TestMQTTALPNAndKeepalive connects with the SNI and ALPN device SDKs send
// (AWS's "x-amzn-mqtt-ca", "mqtt", an unknown name, none), and holds a
// client asking for no keepalive to the server's: idle, it is closed.
func TestMQTTALPNAndKeepalive(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt(func(c *gateway.MQTTConfig) { c.MaxKeepalive = time.Second })
	d := f.device("dev-1", imprint.CertificateActive)
	f.policy(d.cert.ID, "connect-any", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
	for _, c := range []struct {
		sni, want string
		alpn      []string
	}{
		{"localhost", "x-amzn-mqtt-ca", []string{"x-amzn-mqtt-ca"}},
		{"localhost", "mqtt", []string{"mqtt"}},
		{"127.0.0.1", "", []string{"something-else"}},
		{"localhost", "", nil},
	} {
		conn, err := f.tryTLSWith(m.Addr().String(), d, c.sni, c.alpn...)
		if err != nil {
			t.Errorf("SNI %s, ALPN %v: %v", c.sni, c.alpn, err)
			continue
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != c.want {
			t.Errorf("SNI %s, ALPN %v: negotiated %q, want %q", c.sni, c.alpn, got, c.want)
		}
		r := bufio.NewReader(conn)
		if code, reason := f.connect(conn, r, 5, 30, "dev-1"); code != 0 {
			t.Errorf("SNI %s, ALPN %v: CONNACK %#x %s", c.sni, c.alpn, code, reason)
		}
		conn.Close()
	}

	conn := f.dialTLS(m.Addr().String(), d)
	defer conn.Close()
	r := bufio.NewReader(conn)
	if code, reason := f.connect(conn, r, 4, 0, "dev-1"); code != 0 {
		t.Fatalf("MQTT 3.1.1 CONNECT with keepalive 0: CONNACK %#x %s", code, reason)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(r); isTimeout(err) {
		t.Error("an idle client with keepalive 0 is still connected after 10 s; want it closed after 1.5 s")
	}
}
