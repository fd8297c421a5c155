package device

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MQTT protocol versions, as ConnectOptions.MQTTVersion takes them.
const (
	MQTT311 = 4
	MQTT5   = 5
)

// ConnectOptions say how a device connects to Imprint's device endpoint.
type ConnectOptions struct {
	// Endpoint is mqtts://host:port (MQTT over TLS) or https://host:port
	// (the HTTPS device API).
	Endpoint string
	// Certificate is the device's certificate (and chain) and key.
	Certificate tls.Certificate
	// RootCAs are what the device trusts for the endpoint's certificate
	// (GET /ca/device-endpoint.pem); nil for the system's.
	RootCAs *x509.CertPool
	// ClientID is the MQTT client ID; the certificate's subject common name
	// when empty.
	ClientID string
	// MQTTVersion is MQTT5 (the default) or MQTT311.
	MQTTVersion byte
	// Timeout bounds the whole connection (10 s if 0).
	Timeout time.Duration
}

// ConnectResult is what the device endpoint answered.
type ConnectResult struct {
	Protocol string // "mqtt" or "https"
	// Accepted is whether the device was let in: CONNACK success, or 200.
	Accepted bool
	// ReasonCode is the CONNACK's reason code (MQTT 5) or return code
	// (MQTT 3.1.1).
	ReasonCode byte
	// Reason is the CONNACK's reason string, or the message of the HTTPS
	// API's error body.
	Reason string
	// StatusCode and Body are the HTTPS answer: whoami's JSON when
	// accepted.
	StatusCode int
	Body       json.RawMessage
}

// Connect connects a device to the endpoint with its key and certificate
// and returns what it got: over MQTT, a CONNECT and its CONNACK, then a
// DISCONNECT when accepted; over HTTPS, GET /device/v1/whoami. A refusal
// is a result with Accepted false; an error means no answer (the handshake
// failed, the connection broke).
func Connect(ctx context.Context, o ConnectOptions) (*ConnectResult, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: want mqtts://host:port or https://host:port", o.Endpoint)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	switch u.Scheme {
	case "mqtts", "ssl", "tls":
		if o.ClientID == "" {
			o.ClientID = commonName(o.Certificate)
		}
		conf := o.tlsConfig(u.Hostname(), "mqtt")
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "8883")
		}
		return ConnectMQTT(ctx, host, conf, o.ClientID, o.MQTTVersion)
	case "https":
		return whoami(ctx, u, o.tlsConfig(u.Hostname()))
	}
	return nil, fmt.Errorf("endpoint %q: the scheme must be mqtts or https", o.Endpoint)
}

func (o *ConnectOptions) tlsConfig(serverName string, alpn ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{o.Certificate}, RootCAs: o.RootCAs, ServerName: serverName,
		NextProtos: alpn, MinVersion: tls.VersionTLS12}
}

// commonName returns the subject common name of cert's leaf.
func commonName(cert tls.Certificate) string {
	if cert.Leaf != nil {
		return cert.Leaf.Subject.CommonName
	}
	if len(cert.Certificate) > 0 {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			return leaf.Subject.CommonName
		}
	}
	return ""
}

// ConnectMQTT makes a TLS connection to addr with conf (a full handshake
// unless conf has a session cache), sends an MQTT CONNECT of the given
// version (MQTT5 if 0) with a clean session, reads the CONNACK and, when
// it accepts, sends DISCONNECT. The connection is closed on return.
func ConnectMQTT(ctx context.Context, addr string, conf *tls.Config, clientID string, version byte) (*ConnectResult, error) {
	conn, res, err := openMQTT(ctx, &net.Dialer{}, addr, conf, clientID, version)
	if err != nil {
		return nil, err
	}
	if res.Accepted {
		_, _ = conn.Write([]byte{0xe0, 0x00}) // DISCONNECT, normal
	}
	conn.Close()
	return res, nil
}

// openMQTT dials addr with d, makes the TLS handshake, sends CONNECT and
// reads the CONNACK. The connection is returned open, without deadlines,
// when an answer came; closed otherwise.
func openMQTT(ctx context.Context, d *net.Dialer, addr string, conf *tls.Config, clientID string, version byte) (*tls.Conn, *ConnectResult, error) {
	if version == 0 {
		version = MQTT5
	}
	if version != MQTT5 && version != MQTT311 {
		return nil, nil, fmt.Errorf("MQTT protocol version %d: want 4 (3.1.1) or 5", version)
	}
	if len(clientID) > 0xffff {
		return nil, nil, fmt.Errorf("MQTT client ID of %d bytes: at most 65535", len(clientID))
	}
	nc, err := (&tls.Dialer{NetDialer: d, Config: conf}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	conn := nc.(*tls.Conn)
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if _, err := conn.Write(connectPacket(clientID, version)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	res, err := readConnack(bufio.NewReaderSize(conn, 512), version)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, res, nil
}

// connectPacket encodes a CONNECT with a clean session, a 60 s keepalive
// and no properties, will, user name or password.
func connectPacket(clientID string, version byte) []byte {
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', version, 0x02, 0, 60}
	if version == MQTT5 {
		vh = append(vh, 0) // no properties
	}
	vh = binary.BigEndian.AppendUint16(vh, uint16(len(clientID)))
	vh = append(vh, clientID...)
	return append(appendLength([]byte{0x10}, len(vh)), vh...)
}

func appendLength(b []byte, n int) []byte {
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func readLength(r io.ByteReader) (int, error) {
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(c&0x7f) * mul
		if c&0x80 == 0 {
			return n, nil
		}
		mul *= 128
	}
	return 0, errors.New("malformed MQTT remaining length")
}

// connackReturnCodes name MQTT 3.1.1's CONNACK return codes.
var connackReturnCodes = map[byte]string{1: "unacceptable protocol version", 2: "identifier rejected",
	3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}

// readConnack reads the server's first packet, which must be a CONNACK.
func readConnack(r *bufio.Reader, version byte) (*ConnectResult, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	if first>>4 != 2 {
		return nil, fmt.Errorf("the server's first packet is of type %d, not CONNACK", first>>4)
	}
	n, err := readLength(r)
	if err != nil {
		return nil, err
	}
	if n < 2 || n > 64<<10 {
		return nil, fmt.Errorf("CONNACK of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	res := &ConnectResult{Protocol: "mqtt", ReasonCode: body[1], Accepted: body[1] == 0}
	if version != MQTT5 {
		res.Reason = connackReturnCodes[body[1]]
		return res, nil
	}
	props := body[2:]
	if len(props) == 0 {
		return res, nil
	}
	pr := bufio.NewReader(strings.NewReader(string(props)))
	plen, err := readLength(pr)
	if err != nil {
		return nil, err
	}
	props = props[len(props)-pr.Buffered():]
	if plen > len(props) {
		return nil, errors.New("CONNACK properties longer than the packet")
	}
	res.Reason, err = reasonString(props[:plen])
	return res, err
}

// reasonString returns the Reason String property (0x1F) of MQTT 5
// properties.
func reasonString(p []byte) (string, error) {
	str := func() (int, error) { // length of a string or binary at p
		if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
			return 0, errors.New("malformed CONNACK property")
		}
		return 2 + int(binary.BigEndian.Uint16(p)), nil
	}
	for len(p) > 0 {
		id := p[0]
		p = p[1:]
		var n int
		switch id {
		case 0x24, 0x25, 0x28, 0x29, 0x2a: // byte
			n = 1
		case 0x21, 0x22, 0x13: // two-byte integer
			n = 2
		case 0x11, 0x27: // four-byte integer
			n = 4
		case 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f: // string or binary
			l, err := str()
			if err != nil {
				return "", err
			}
			if id == 0x1f {
				return string(p[2:l]), nil
			}
			n = l
		case 0x26: // user property: two strings
			l, err := str()
			if err != nil {
				return "", err
			}
			p = p[l:]
			if l, err = str(); err != nil {
				return "", err
			}
			n = l
		default:
			return "", fmt.Errorf("unknown CONNACK property %#x", id)
		}
		if n > len(p) {
			return "", errors.New("malformed CONNACK property")
		}
		p = p[n:]
	}
	return "", nil
}

// whoami asks GET /device/v1/whoami.
func whoami(ctx context.Context, u *url.URL, conf *tls.Config) (*ConnectResult, error) {
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/device/v1/whoami", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	res := &ConnectResult{Protocol: "https", StatusCode: resp.StatusCode, Accepted: resp.StatusCode == http.StatusOK}
	if json.Valid(body) {
		res.Body = body
	}
	if !res.Accepted {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			res.Reason = e.Error.Message
		} else {
			res.Reason = strings.TrimSpace(string(body))
		}
	}
	return res, nil
}
