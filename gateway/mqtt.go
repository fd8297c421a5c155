package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/provisioning"
)

// Limits of the MQTT server.
const (
	// DefaultMaxKeepalive is the longest MQTT keepalive a client may ask
	// for, in AWS IoT's bound; a client asking for none or for more is held
	// to it.
	DefaultMaxKeepalive = 1200 * time.Second
	// MaxPacketSize is the largest MQTT packet a client may send, in bytes:
	// AWS IoT's message size limit; a larger one ends the connection.
	MaxPacketSize = 128 << 10
	// MaxSessionExpiry is how long a persistent session is kept after its
	// client disconnects.
	MaxSessionExpiry = time.Hour
	// MaxPendingWrites is how many messages may wait to be written to one
	// client; more are dropped. Each session holds a queue of that many
	// slots: the broker's default of 8,192 is 64 KiB a session, 640 MB of
	// heap for 10,000 idle devices.
	MaxPendingWrites = 256
)

// Connector decides whether a device may connect: *provisioning.Engine.
type Connector interface {
	Connect(ctx context.Context, req provisioning.ConnectRequest) (*provisioning.Connection, error)
}

// MQTTConfig configures the MQTT server. Listener and Engine are required.
type MQTTConfig struct {
	Listener ListenerConfig
	Engine   Connector
	// MaxKeepalive bounds the keepalive of every session
	// (DefaultMaxKeepalive if 0): an idle client is closed after one and a
	// half times it.
	MaxKeepalive time.Duration
	// ConnectTimeout bounds the engine's decision on a CONNECT (10 s if 0).
	ConnectTimeout time.Duration
	Log            *slog.Logger
}

// MQTT is the MQTT 3.1.1 and 5 broker of the device gateway: an embedded
// broker behind the front door, every CONNECT put to the engine, every
// PUBLISH, SUBSCRIBE and delivery decided by the session's policies. It is
// a provisioning.StandingListener: Invalidate decides the sessions of a
// certificate whose standing changed again, and closes those now refused;
// and a provisioning.RegistrationListener: CertificateRegistered publishes
// JITR notifications.
type MQTT struct {
	cfg      MQTTConfig
	listener *Listener
	server   *mqtt.Server
	sessions *sessions
	log      *slog.Logger

	ctx     context.Context // ends when the server closes
	stop    context.CancelFunc
	mu      sync.Mutex
	closed  bool
	recheck sync.WaitGroup // the goroutines deciding sessions again
}

// NewMQTT returns an MQTT server listening on cfg.Listener.Address; Serve
// starts it.
func NewMQTT(cfg MQTTConfig) (*MQTT, error) {
	if cfg.Engine == nil {
		return nil, errors.New("gateway: an engine is required")
	}
	cfg.Log = cfg.Listener.defaults(cfg.Log, ALPNMQTT, ALPNAWSMQTT)
	cfg.MaxKeepalive = orDefault(cfg.MaxKeepalive, DefaultMaxKeepalive)
	cfg.ConnectTimeout = orDefault(cfg.ConnectTimeout, 10*time.Second)
	l, err := Listen(cfg.Listener)
	if err != nil {
		return nil, err
	}
	m := &MQTT{cfg: cfg, listener: l, sessions: newSessions(), log: cfg.Log}
	m.ctx, m.stop = context.WithCancel(context.Background())
	// The broker's own log says little a device operator needs; its
	// warnings go to ours at debug level.
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacketSize
	caps.MaximumClientWritesPending = MaxPendingWrites
	caps.MaximumSessionExpiryInterval = uint32(MaxSessionExpiry / time.Second)
	caps.MinimumProtocolVersion = 4 // 3.1.1 and 5
	// Topic aliases are left out: the broker decides a PUBLISH before it
	// resolves its alias.
	caps.TopicAliasMaximum = 0
	// The inline client publishes the server's own messages (JITR
	// notifications); devices never speak through it.
	m.server = mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.server.AddHook(&hook{m: m}, nil); err != nil {
		l.Close()
		return nil, err
	}
	if err := m.server.AddListener(&mqttListener{l: l, sessions: m.sessions}); err != nil {
		l.Close()
		return nil, err
	}
	return m, nil
}

// Addr returns the address the server listens on.
func (m *MQTT) Addr() net.Addr { return m.listener.Addr() }

// SetServerCertificate replaces the server's own certificate.
func (m *MQTT) SetServerCertificate(cert tls.Certificate) { m.listener.SetServerCertificate(cert) }

// Serve starts accepting connections and returns.
func (m *MQTT) Serve() error { return m.server.Serve() }

// Close disconnects every client, stops the listener and waits for the
// goroutines of every connection.
func (m *MQTT) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.stop()
	m.recheck.Wait()
	m.server.Close()
	return m.listener.Close()
}

// Invalidate has every live session of the certificate caID and serial
// decided again: its standing changed (revoked, deactivated, renewed, or
// activated, as by its own provisioning on first connection), and the
// sessions the engine refuses now are closed, within the time of one
// decision. Serial "*" names many certificates of the CA at once, and an
// empty caID any certificate: their sessions are decided again the same
// way, and only a refusal closes one (a decision that cannot be made now
// keeps them). A session of one certificate whose decision fails for any
// reason is closed. Invalidate is the engine's StandingListener; Notify is
// the same for the notifications of other replicas.
func (m *MQTT) Invalidate(caID, serial string) {
	one := caID != "" && serial != "*"
	var ss []*session
	if one {
		ss = m.sessions.ofCertificate(caID, serial)
	} else {
		ss = m.sessions.ofCA(caID)
	}
	if len(ss) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.recheck.Add(1)
	go func() {
		defer m.recheck.Done()
		m.decideAgain(ss, one)
	}()
}

// Notify takes a notification of the revocation channel
// (imprint.ChannelRevocations, payload "<caID> <serial>" or "<caID> *";
// an empty payload after the listener reconnected, when notifications may
// have been lost) and invalidates what it names.
func (m *MQTT) Notify(channel, payload string) {
	if channel != imprint.ChannelRevocations {
		return
	}
	caID, serial, _ := strings.Cut(payload, " ")
	m.Invalidate(caID, serial)
}

// decideAgain puts sessions to the engine again and closes those it
// refuses now; strict closes those it cannot decide too.
func (m *MQTT) decideAgain(ss []*session, strict bool) {
	for _, s := range ss {
		if m.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.ConnectTimeout)
		_, err := m.cfg.Engine.Connect(ctx, s.req)
		cancel()
		if k := imprint.ErrorKind(err); err != nil && (strict || k == imprint.Unauthorized || k == imprint.Forbidden) {
			m.sessions.removeSession(s)
			m.disconnect(s.client, imprint.ErrorMessage(err))
		}
	}
}

// RegisteredTopicPrefix is the topic a JITR notification is published on,
// followed by the certificate's CA ID.
const RegisteredTopicPrefix = "$aws/events/certificates/registered/"

// reservedTopic reports whether topic is the server's to publish on: its
// own $SYS topics and the event topics under $aws/events/.
func reservedTopic(topic string) bool {
	return strings.HasPrefix(topic, mqtt.SysPrefix) || strings.HasPrefix(topic, "$aws/events/")
}

// CertificateRegistered publishes a JITR attempt (the certificate.registered
// event's data, JSON) on $aws/events/certificates/registered/<caCertificateId>
// to the sessions whose policies allow iot:Subscribe on its topic filter
// and iot:Receive on its topic. It is the engine's RegistrationListener:
// the replica that decided the connection publishes, to its own sessions;
// the audit log, the event stream and webhooks carry the event everywhere.
func (m *MQTT) CertificateRegistered(ev provisioning.JITREvent) {
	payload, err := json.Marshal(ev)
	if err != nil {
		m.log.Error("encode a JITR notification", "certificate", ev.CertificateID, "err", err)
		return
	}
	if err := m.server.Publish(RegisteredTopicPrefix+ev.CACertificateID, payload, false, 1); err != nil {
		m.log.Error("publish a JITR notification", "certificate", ev.CertificateID, "err", err)
	}
}

// Sessions returns how many sessions are live.
func (m *MQTT) Sessions() int { return m.sessions.len() }

// disconnect ends a client's connection; an MQTT 5 client is told why first.
func (m *MQTT) disconnect(cl *mqtt.Client, why string) {
	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	}
	if cl.Properties.ProtocolVersion == 5 {
		_ = m.server.DisconnectClient(cl, packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: why})
	}
	cl.Stop(errors.New(why))
}

// mqttListener hands the front door's connections to the broker.
type mqttListener struct {
	l        *Listener
	sessions *sessions
}

func (ml *mqttListener) Init(*slog.Logger) error { return nil }
func (ml *mqttListener) ID() string              { return "imprint-mqtt" }
func (ml *mqttListener) Address() string         { return ml.l.Addr().String() }
func (ml *mqttListener) Protocol() string        { return "tcp+tls" }

func (ml *mqttListener) Serve(establish listeners.EstablishFn) {
	ml.l.serve(func(c *Conn) {
		// The broker reads the CONNECT under the front door's first-packet
		// deadline, then sets its keepalive deadline.
		if err := establish(ml.ID(), c); err != nil {
			ml.l.cfg.Log.Debug("mqtt connection ended", "remote", c.SourceIP().String(), "err", err)
		}
		ml.sessions.removeConn(c)
		c.Close()
	})
}

func (ml *mqttListener) Close(closeClients listeners.CloseFn) {
	closeClients(ml.ID())
	ml.l.Close()
}

// hook puts the broker's decisions to the engine and the sessions'
// deciders. It is the broker's only hook: hooks' answers are OR'ed, so
// another that allows would allow everything.
type hook struct {
	mqtt.HookBase
	m *MQTT
}

func (h *hook) ID() string { return "imprint" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck,
		mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnPublish, mqtt.OnDisconnect}, []byte{b})
}

// OnConnect decides the CONNECT with the engine. A refusal is answered
// here, with a CONNACK that says why (MQTT 5: a reason code and string;
// 3.1.1: "not authorized"), and the connection is dropped.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	c, ok := cl.Net.Conn.(*Conn)
	if !ok {
		return errors.New("gateway: connection not from the front door")
	}
	if cl.ID == mqtt.InlineClientId {
		// The broker's own client publishes the server's messages; a
		// device taking over its session would take them over too.
		err := imprint.Errorf(imprint.Forbidden, "the client ID %q is reserved", cl.ID)
		h.refuse(cl, err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.m.cfg.ConnectTimeout)
	defer cancel()
	req := provisioning.ConnectRequest{Chain: c.Chain(), Protocol: provisioning.ProtocolMQTT,
		ClientID: cl.ID, SourceIP: c.SourceIP(), ConnectAttributes: connectAttributes(cl, pk)}
	var err error
	for attempt := 1; ; attempt++ {
		started := time.Now()
		var conn *provisioning.Connection
		conn, err = h.m.cfg.Engine.Connect(ctx, req)
		if err == nil {
			err = h.m.sessions.add(&session{client: cl, conn: conn, req: req}, started)
		}
		// A first connection changes its certificate's standing itself
		// (JITP sets its status), and the gateway hears of that as of any
		// change, often after the decision: decide again from a fresh
		// start, so that a session is only admitted on a decision that no
		// change overtook.
		if conn == nil || err == nil || attempt == 3 {
			break
		}
	}
	if err != nil {
		h.refuse(cl, err)
		return err
	}
	h.holdKeepalive(cl)
	return nil
}

// holdKeepalive bounds the client's keepalive, which sets the deadline the
// broker keeps on its reads.
func (h *hook) holdKeepalive(cl *mqtt.Client) {
	most := uint16(h.m.cfg.MaxKeepalive / time.Second)
	if cl.State.Keepalive == 0 || cl.State.Keepalive > most {
		cl.State.Keepalive = most
		cl.State.ServerKeepalive = true // an MQTT 5 client is told in the CONNACK
	}
}

// refuse answers a refused CONNECT.
func (h *hook) refuse(cl *mqtt.Client, err error) {
	kind := imprint.ErrorKind(err)
	msg := imprint.ErrorMessage(err)
	if kind == imprint.Internal || kind == imprint.Unavailable || kind == imprint.Aborted {
		h.m.log.Error("mqtt connect not decided", "client", cl.ID, "err", err)
	} else {
		h.m.log.Info("mqtt connect refused", "client", cl.ID, "remote", cl.Net.Remote, "reason", msg)
	}
	var code packets.Code
	switch {
	case cl.Properties.ProtocolVersion < 5 && (kind == imprint.Unauthorized || kind == imprint.Forbidden):
		code = packets.ErrBadUsernameOrPassword // 3.1.1 return code 5, not authorized
	case cl.Properties.ProtocolVersion < 5:
		code = packets.ErrServerUnavailable // 3.1.1 return code 3
	case kind == imprint.Unauthorized || kind == imprint.Forbidden:
		// Not 0x86 (bad user name or password) for an unknown certificate:
		// there is no password, and some clients take 0x86 badly.
		code = packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: msg}
	case kind == imprint.Unavailable || kind == imprint.Aborted:
		code = packets.Code{Code: packets.ErrServerUnavailable.Code, Reason: msg}
	default:
		code = packets.Code{Code: packets.ErrUnspecifiedError.Code, Reason: "internal error"}
	}
	_ = h.m.server.SendConnack(cl, code, false, nil)
}

// connectAttributes returns the CONNECT's iot:ConnectAttributes.
func connectAttributes(cl *mqtt.Client, pk packets.Packet) []string {
	var out []string
	persistent := !pk.Connect.Clean
	if cl.Properties.ProtocolVersion == 5 {
		persistent = pk.Properties.SessionExpiryInterval > 0
	}
	if persistent {
		out = append(out, "PersistentConnect")
	}
	if pk.Connect.WillFlag {
		out = append(out, "LastWill")
	}
	return out
}

// OnConnectAuthenticate lets in the clients OnConnect let in.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	return h.m.sessions.of(cl) != nil
}

// OnSubscribe decides each filter of a SUBSCRIBE with iot:Subscribe on
// topicfilter/<filter>, for OnACLCheck to answer while the broker goes
// through them.
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	s := h.m.sessions.of(cl)
	if s == nil {
		return pk
	}
	decided := make(map[string]bool, len(pk.Filters))
	for _, f := range pk.Filters {
		// The broker's own $SYS topics are nobody's, whatever a policy says.
		decided[f.Filter] = !strings.HasPrefix(f.Filter, mqtt.SysPrefix) &&
			s.conn.Decider.Allowed(policy.ActionSubscribe, "topicfilter/"+f.Filter)
	}
	s.subscribing.Store(&decided)
	return pk
}

// OnPublish refuses a retained PUBLISH that iot:RetainPublish does not
// allow on topic/<topic> (iot:Publish was decided already), as the broker
// refuses a PUBLISH: QoS 0 is dropped, MQTT 5 QoS 1 and 2 are answered
// 0x87, and an MQTT 3.1.1 client is disconnected.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain {
		return pk, nil
	}
	if s := h.m.sessions.of(cl); s != nil && s.conn.Decider.Allowed(policy.ActionRetainPublish, "topic/"+pk.TopicName) {
		return pk, nil
	}
	switch {
	case pk.FixedHeader.Qos == 0:
	case cl.Properties.ProtocolVersion == 5:
		return pk, packets.ErrNotAuthorized
	default:
		cl.Stop(packets.ErrNotAuthorized)
	}
	return pk, packets.ErrRejectPacket
}

// OnSubscribed ends what OnSubscribe began.
func (h *hook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) {
	if s := h.m.sessions.of(cl); s != nil {
		s.subscribing.Store(nil)
	}
}

// OnACLCheck decides a PUBLISH (iot:Publish on topic/<topic>), a filter of
// a SUBSCRIBE being processed (as OnSubscribe decided) and every delivery
// (iot:Receive on topic/<topic>), in memory.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	s := h.m.sessions.of(cl)
	if s == nil {
		return false
	}
	if write {
		// No device speaks on the server's own topics, whatever a policy says.
		return !reservedTopic(topic) && s.conn.Decider.Allowed(policy.ActionPublish, "topic/"+topic)
	}
	receive := func() bool { return s.conn.Decider.Allowed(policy.ActionReceive, "topic/"+topic) }
	if decided := s.subscribing.Load(); decided != nil {
		if ok, found := (*decided)[topic]; found {
			// The broker asks the same way about a filter of the SUBSCRIBE
			// and about a delivery to this client: a filter without
			// wildcards could be either, so it needs both, and nothing is
			// delivered that iot:Receive does not allow.
			return ok && (strings.ContainsAny(topic, "+#") || receive())
		}
	}
	return receive()
}

// OnDisconnect forgets the client's session.
func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.m.sessions.remove(cl)
}

// session is a live MQTT connection let in by the engine.
type session struct {
	client      *mqtt.Client
	netConn     *Conn
	conn        *provisioning.Connection
	req         provisioning.ConnectRequest     // what decided it, to decide it again
	subscribing atomic.Pointer[map[string]bool] // the filters of the SUBSCRIBE being processed, decided
}
