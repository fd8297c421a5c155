package provisioning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/provisioning"
)

// TestConnect lets in an ACTIVE certificate whose policies allow
// iot:Connect, with the connection-time variables (thing by client ID,
// source IP) and a decider for later actions; and refuses an unregistered
// certificate, every status but ACTIVE, and a client ID the policies do not
// allow, each with a reason that names the cause.
func TestConnect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cert := f.issue(pkix.Name{CommonName: "sensor-1", Organization: []string{"Acme"}})
	leaf, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		t.Fatal(err)
	}
	chain := []*x509.Certificate{leaf}
	for name, doc := range map[string]string{
		"connect": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
			"Resource":"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
			"Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`,
		"pubsub": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],
			"Resource":"arn:aws:iot:*:*:topic/${iot:ClientId}/*"},
			{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/${iot:Certificate.Subject.Organization}/#"}]}`,
	} {
		if _, err := f.db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
		if err := f.db.AttachPolicy(ctx, name, "certificate", cert.ID, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.CreateThing(ctx, &imprint.Thing{Name: "sensor-1", Attributes: map[string]string{}}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AttachPrincipal(ctx, "sensor-1", cert.ID, false, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddr("127.0.0.1")
	conn, err := f.engine.Connect(ctx, provisioning.ConnectRequest{Chain: chain, Protocol: provisioning.ProtocolMQTT,
		ClientID: "sensor-1", SourceIP: local})
	if err != nil {
		t.Fatalf("Connect() error = %v", err)
	}
	if conn.CertificateID != cert.ID || conn.CAID != cert.CAID || conn.Serial != cert.Serial || conn.ThingName != "sensor-1" ||
		conn.Status != imprint.CertificateActive {
		t.Errorf("Connect() = %+v, want certificate %s of CA %s serial %s, thing sensor-1", conn, cert.ID, cert.CAID, cert.Serial)
	}
	for _, c := range []struct {
		action   policy.Action
		resource string
		want     bool
	}{
		{policy.ActionPublish, "topic/sensor-1/temp", true},
		{policy.ActionReceive, "topic/sensor-1/cmd", true},
		{policy.ActionPublish, "topic/sensor-2/temp", false},
		{policy.ActionSubscribe, "topicfilter/Acme/#", true},
		{policy.ActionSubscribe, "topicfilter/Other/#", false},
	} {
		if got := conn.Decider.Allowed(c.action, c.resource); got != c.want {
			t.Errorf("Allowed(%v, %s) = %v, want %v", c.action, c.resource, got, c.want)
		}
	}

	// Over HTTPS there is no client ID: the thing is the one attached, and
	// iot:Connect is not asked.
	conn, err = f.engine.Connect(ctx, provisioning.ConnectRequest{Chain: chain, Protocol: provisioning.ProtocolHTTPS})
	if err != nil || conn.ThingName != "sensor-1" {
		t.Fatalf("Connect(https) = %+v, %v; want thing sensor-1", conn, err)
	}

	refused := func(req provisioning.ConnectRequest, kind imprint.Kind, msg string) {
		t.Helper()
		_, err := f.engine.Connect(ctx, req)
		if imprint.ErrorKind(err) != kind || !strings.Contains(imprint.ErrorMessage(err), msg) {
			t.Errorf("Connect(%s) error = %v (%v), want %v saying %q", req.ClientID, err, imprint.ErrorKind(err), kind, msg)
		}
	}
	mqtt := func(clientID string, ip netip.Addr) provisioning.ConnectRequest {
		return provisioning.ConnectRequest{Chain: chain, Protocol: provisioning.ProtocolMQTT, ClientID: clientID, SourceIP: ip}
	}
	refused(mqtt("sensor-2", local), imprint.Forbidden, "do not allow iot:Connect on client/sensor-2")
	refused(mqtt("sensor-1", netip.MustParseAddr("192.0.2.1")), imprint.Forbidden, "do not allow iot:Connect on client/sensor-1")
	refused(provisioning.ConnectRequest{Protocol: provisioning.ProtocolMQTT}, imprint.Unauthorized, "client certificate is required")

	other := f.sign(pkix.Name{CommonName: "sensor-9"}, "")
	otherLeaf, _ := x509.ParseCertificate(other.DER)
	refused(provisioning.ConnectRequest{Chain: []*x509.Certificate{otherLeaf}, Protocol: provisioning.ProtocolMQTT, ClientID: "sensor-9"},
		imprint.Unauthorized, "certificate "+other.ID+" is not registered")
}

// TestConnectStatus refuses every status but ACTIVE, naming it.
func TestConnectStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.db.CreatePolicy(ctx, "connect-any", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`,
		imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		status imprint.CertificateStatus
		want   string
	}{
		{imprint.CertificateInactive, "is INACTIVE"},
		{imprint.CertificateRevoked, "is REVOKED"},
		{imprint.CertificatePendingActivation, "is PENDING_ACTIVATION"},
	} {
		cert := f.sign(pkix.Name{CommonName: "d-" + string(c.status)}, c.status)
		if c.status == imprint.CertificateRevoked {
			cert.Status = imprint.CertificateActive
		}
		if err := f.db.CreateCertificates(ctx, []imprint.Certificate{*cert}, imprint.SystemActor, nil); err != nil {
			t.Fatal(err)
		}
		if c.status == imprint.CertificateRevoked {
			if _, err := f.engine.Revoke(ctx, imprint.SystemActor, cert.ID, imprint.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.db.AttachPolicy(ctx, "connect-any", "certificate", cert.ID, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(cert.DER)
		_, err := f.engine.Connect(ctx, provisioning.ConnectRequest{Chain: []*x509.Certificate{leaf}, Protocol: provisioning.ProtocolMQTT, ClientID: "d"})
		if imprint.ErrorKind(err) != imprint.Forbidden || !strings.Contains(imprint.ErrorMessage(err), c.want) {
			t.Errorf("Connect(%s) error = %v, want Forbidden saying %q", c.status, err, c.want)
		}
	}
}

// sign signs a certificate for a new key with the given subject and status
// (ACTIVE if empty) and does not record it.
func (f *fixture) sign(subject pkix.Name, status imprint.CertificateStatus) *imprint.Certificate {
	f.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		f.t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		f.t.Fatal(err)
	}
	iss, err := f.ca.Issue(ctx, ca.IssueRequest{CSR: csr, Status: status})
	if err != nil {
		f.t.Fatal(err)
	}
	return &iss.Certificate
}

// TestConnectKeepsAuthorization: with the caches on, a reconnection is
// decided with the thing and policies read before, until a change of them
// made in this process (at once) or heard from another replica (through
// Engine.Notify); a client ID that named no thing is looked up every time.
func TestConnectKeepsAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.newEngine(provisioning.Config{CacheCertificates: true})
	other := f.otherReplica()
	cert := f.issue(pkix.Name{CommonName: "kept-1"})
	leaf, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		t.Fatal(err)
	}
	const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	const publish = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingName}/*"}]}`
	for name, doc := range map[string]string{"connect-all": allowAll, "publish-own": publish} {
		if _, err := f.db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.AttachPolicy(ctx, "connect-all", "certificate", cert.ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.CreateThing(ctx, &imprint.Thing{Name: "kept-1"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AttachPrincipal(ctx, "kept-1", cert.ID, false, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	publishes := func(clientID string) bool {
		t.Helper()
		conn, err := e.Connect(ctx, provisioning.ConnectRequest{Chain: []*x509.Certificate{leaf}, Protocol: provisioning.ProtocolMQTT,
			ClientID: clientID})
		if err != nil {
			t.Fatalf("Connect(%s) = %v", clientID, err)
		}
		return conn.Decider.Allowed(policy.ActionPublish, "topic/kept-1/temp")
	}
	if publishes("kept-1") {
		t.Fatal("publish allowed before any publish policy")
	}
	// A change in this process applies to the next connection.
	if err := f.db.AttachPolicy(ctx, "publish-own", "certificate", cert.ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if !publishes("kept-1") {
		t.Fatal("publish refused after the policy was attached in this process")
	}
	// Another replica's change applies once its notification is heard:
	// until then the connection is decided with what was kept.
	if err := other.DetachPolicy(ctx, "publish-own", "certificate", cert.ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if !publishes("kept-1") {
		t.Fatal("a reconnection read the store, want what was kept")
	}
	e.Notify(imprint.ChannelAuthorization, "")
	if publishes("kept-1") {
		t.Fatal("publish allowed after another replica detached the policy and it was heard")
	}
	// A client ID that names no thing: the certificate's thing, looked up
	// again each time, so that a thing made under that name by another
	// replica counts at once.
	conn, err := e.Connect(ctx, provisioning.ConnectRequest{Chain: []*x509.Certificate{leaf}, Protocol: provisioning.ProtocolMQTT,
		ClientID: "ghost-1"})
	if err != nil || conn.ThingName != "kept-1" {
		t.Fatalf("Connect(ghost-1) = %+v, %v; want the certificate's thing", conn, err)
	}
	if err := other.CreateThing(ctx, &imprint.Thing{Name: "ghost-1"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	conn, err = e.Connect(ctx, provisioning.ConnectRequest{Chain: []*x509.Certificate{leaf}, Protocol: provisioning.ProtocolMQTT,
		ClientID: "ghost-1"})
	if err != nil || conn.ThingName != "ghost-1" {
		t.Fatalf("Connect(ghost-1) after the thing was made = %+v, %v; want ghost-1", conn, err)
	}
}
