package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/ca/catest"
	"github.com/imprint-iot/imprint/gateway"
	"github.com/imprint-iot/imprint/provisioning"
)

// jitrCA registers a customer CA that registers the certificates it signed
// on their first connection, without a template (JITR), and returns a
// device of it that Imprint does not know.
func (f *fixture) jitrCA(name string) (*imprint.CA, *device) {
	f.t.Helper()
	customer := catest.NewCustomerCA(f.t, name, true)
	if err := f.db.CreateCA(ctx, customer.Record, imprint.SystemActor); err != nil {
		f.t.Fatal(err)
	}
	if err := f.ca.Reload(ctx); err != nil {
		f.t.Fatal(err)
	}
	leaf, key := customer.Sign(f.t, pkix.Name{CommonName: name + " device"})
	d := &device{cert: &imprint.Certificate{ID: ca.CertificateID(leaf.Raw), CAID: customer.Record.ID},
		certFile: f.write("jitr.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		keyF:     f.writeKey("jitr", key)}
	return customer.Record, d
}

// mqttClient is a raw MQTT 5 session of the test's own, which reads the
// packets the server sends it in order.
type mqttClient struct {
	f    *fixture
	conn net.Conn
	r    *bufio.Reader
}

// subscribe connects d as clientID and subscribes to filters at QoS 0; it
// returns the SUBACK's reason codes, one per filter. Once it returns, the
// subscriptions granted are in place.
func (f *fixture) subscribe(m *gateway.MQTT, d *device, clientID string, filters ...string) (*mqttClient, []byte) {
	f.t.Helper()
	conn := f.dialTLS(m.Addr().String(), d)
	f.t.Cleanup(func() { conn.Close() })
	c := &mqttClient{f: f, conn: conn, r: bufio.NewReader(conn)}
	if code, reason := f.connect(conn, c.r, 5, 60, clientID); code != 0 {
		f.t.Fatalf("CONNECT of %s = %#x %q, want success", clientID, code, reason)
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1}
	for _, filter := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: filter})
	}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		f.t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		f.t.Fatal(err)
	}
	ack := c.next()
	if ack.FixedHeader.Type != packets.Suback {
		f.t.Fatalf("%s: packet %d after SUBSCRIBE, want SUBACK", clientID, ack.FixedHeader.Type)
	}
	return c, ack.ReasonCodes
}

// next reads the next packet, SUBACK or PUBLISH, within 10 s.
func (c *mqttClient) next() packets.Packet {
	c.f.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := c.r.ReadByte()
	if err != nil {
		c.f.t.Fatalf("read a packet: %v", err)
	}
	fh := packets.FixedHeader{}
	if err := fh.Decode(b); err != nil {
		c.f.t.Fatal(err)
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		c.f.t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.f.t.Fatal(err)
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: 5}
	switch fh.Type {
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	default:
		c.f.t.Fatalf("unexpected packet type %d", fh.Type)
	}
	if err != nil {
		c.f.t.Fatal(err)
	}
	return pk
}

// TestMQTTJITRNotification connects a device of a JITR CA twice: each
// attempt is refused as PENDING_ACTIVATION and publishes the JITR payload
// on $aws/events/certificates/registered/<caId> to a subscriber whose
// policy allows it, and to no other; no device may publish there itself.
func TestMQTTJITRNotification(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	m := f.mqtt()
	customer, unknown := f.jitrCA("Sensor CA")
	topic := gateway.RegisteredTopicPrefix + customer.ID

	listener := f.device("listener", imprint.CertificateActive)
	f.policy(listener.cert.ID, "jitr-listener", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:*:*:topicfilter/$aws/events/certificates/registered/`+customer.ID+`","arn:aws:iot:*:*:topicfilter/ping/listener"]},
		{"Effect":"Allow","Action":"iot:Receive","Resource":["arn:aws:iot:*:*:topic/$aws/events/certificates/registered/`+customer.ID+`","arn:aws:iot:*:*:topic/ping/listener"]}]}`)
	sub, codes := f.subscribe(m, listener, "listener", topic, "ping/listener")
	if !bytes.Equal(codes, []byte{0, 0}) {
		t.Fatalf("SUBACK of the listener = %v, want both granted", codes)
	}
	// Subscribe without Receive: the wildcard filter is granted, and
	// nothing of the topic is delivered.
	deaf := f.device("deaf", imprint.CertificateActive)
	f.policy(deaf.cert.ID, "jitr-deaf", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:*:*:topicfilter/$aws/events/certificates/registered/*","arn:aws:iot:*:*:topicfilter/ping/deaf"]},
		{"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:*:*:topic/ping/deaf"}]}`)
	deafSub, codes := f.subscribe(m, deaf, "deaf", gateway.RegisteredTopicPrefix+"+", "ping/deaf")
	if !bytes.Equal(codes, []byte{0, 0}) {
		t.Fatalf("SUBACK of the subscriber without iot:Receive = %v, want both granted", codes)
	}
	// No policy for the topic: the subscription is refused.
	other := f.device("other", imprint.CertificateActive)
	f.policy(other.cert.ID, "connect-only", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
	if _, codes := f.subscribe(m, other, "other", topic); !bytes.Equal(codes, []byte{packets.ErrNotAuthorized.Code}) {
		t.Errorf("SUBACK without a policy for the topic = %v, want [%#x]", codes, packets.ErrNotAuthorized.Code)
	}

	// A device may not take the broker's own client ID, whatever its
	// policy says: the notifications below still arrive.
	all := f.device("all", imprint.CertificateActive)
	f.policy(all.cert.ID, "everything", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`)
	if code, reason := f.connectV5(m, all, "inline"); code != packets.ErrNotAuthorized.Code || !strings.Contains(reason, "reserved") {
		t.Errorf("CONNECT as inline = %#x %q, want not authorized, reserved", code, reason)
	}

	for attempt := 1; attempt <= 2; attempt++ {
		code, reason := f.connectV5(m, unknown, "jitr-device")
		if code != packets.ErrNotAuthorized.Code || !strings.Contains(reason, "PENDING_ACTIVATION") {
			t.Fatalf("attempt %d: CONNACK %#x %q, want not authorized, PENDING_ACTIVATION", attempt, code, reason)
		}
		pk := sub.next()
		if pk.FixedHeader.Type != packets.Publish || pk.TopicName != topic {
			t.Fatalf("attempt %d: the listener got %d on %q, want a PUBLISH on %s", attempt, pk.FixedHeader.Type, pk.TopicName, topic)
		}
		var ev provisioning.JITREvent
		if err := json.Unmarshal(pk.Payload, &ev); err != nil {
			t.Fatalf("attempt %d: payload %s: %v", attempt, pk.Payload, err)
		}
		var fields map[string]any
		_ = json.Unmarshal(pk.Payload, &fields)
		if ev.CertificateID != unknown.cert.ID || ev.CACertificateID != customer.ID || ev.CertificateStatus != "PENDING_ACTIVATION" ||
			ev.Timestamp <= 0 || ev.CertificateRegistrationTimestamp == "" || len(fields) != 5 {
			t.Errorf("attempt %d: payload %s, want the JITR fields of certificate %s", attempt, pk.Payload, unknown.cert.ID)
		}
	}

	// A device may not speak on the event topics, whatever its policy says.
	out, err := f.mosquitto("mosquitto_pub", m, all, "-V", "mqttv5", "-i", "all", "-q", "1", "-t", topic, "-m", "{}", "-d")
	if !strings.Contains(out, "135") && !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("mosquitto_pub on %s: %v, %q; want PUBACK not authorized (135)", topic, err, out)
	}
	// What each subscriber reads next is the ping published after all the
	// above: the one without iot:Receive got no event, the listener no
	// spoofed one.
	for _, c := range []struct {
		who string
		sub *mqttClient
	}{{"listener", sub}, {"deaf", deafSub}} {
		if out, err := f.mosquitto("mosquitto_pub", m, all, "-V", "mqttv5", "-i", "all", "-q", "1", "-t", "ping/"+c.who, "-m", "ping"); err != nil {
			t.Fatalf("mosquitto_pub ping/%s: %v\n%s", c.who, err, out)
		}
		if pk := c.sub.next(); pk.TopicName != "ping/"+c.who {
			t.Errorf("%s got %q on %q, want the ping", c.who, pk.Payload, pk.TopicName)
		}
	}
}
