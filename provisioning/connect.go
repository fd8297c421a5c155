package provisioning

import (
	"context"
	"crypto/x509"
	"net/netip"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/policy"
)

// The protocols a device connects by, as ConnectRequest.Protocol names them.
const (
	ProtocolMQTT  = "mqtt"
	ProtocolHTTPS = "https"
)

// ConnectRequest is a device connecting to the device gateway.
type ConnectRequest struct {
	// Chain is the client's certificate chain as the gateway verified it,
	// the leaf first and its issuer next. Required.
	Chain []*x509.Certificate
	// Protocol is ProtocolMQTT or ProtocolHTTPS. An MQTT connection must be
	// allowed iot:Connect on client/<ClientID>.
	Protocol string
	// ClientID is the MQTT client ID (iot:ClientId); "" over HTTPS.
	ClientID string
	// SourceIP is the client's address as the socket says (aws:SourceIp);
	// the zero Addr for none.
	SourceIP netip.Addr
	// ConnectAttributes are the MQTT CONNECT's attributes
	// (iot:ConnectAttributes), such as "PersistentConnect" and "LastWill".
	ConnectAttributes []string
}

// Connection is a device let in: what it is, and what its policies allow it
// for the life of the connection.
type Connection struct {
	CertificateID string
	CAID          string
	Serial        string // lowercase hex
	Status        imprint.CertificateStatus
	// ThingName is the thing the connection speaks for ("" for none): the
	// one named by the client ID, else the one thing the certificate is
	// attached to.
	ThingName string
	// Decider decides the connection's later actions in memory.
	Decider *Decider
}

// Decider decides what a connection may do, with the policies that were
// effective when it connected and the connection's policy variables. It
// reads no database: a connection whose certificate changes standing is
// closed rather than re-decided. Safe for concurrent use.
type Decider struct {
	base     policy.Request
	policies []*policy.Policy
}

// Allowed reports whether the policies allow action on resource (the short
// form, such as "topic/a/b"). It costs one pass over the policies'
// statements and allocates nothing in the common case.
func (d *Decider) Allowed(action policy.Action, resource string) bool {
	if d == nil {
		return false
	}
	req := d.base
	req.Action, req.Resource = action, resource
	return policy.Decide(&req, d.policies...).Allowed()
}

// Connect decides whether a device may connect with the verified chain of
// req: its certificate must be registered and ACTIVE, and over MQTT its
// policies must allow iot:Connect on client/<clientId>. The certificate, and
// the thing and policies that decide the connection, are found in the
// engine's caches (Config.CacheCertificates) or read from the store. A certificate its CA provisions on
// first connection and that was not provisioned yet goes through
// ProvisionFirstConnection first (JITP, JITR), and the connection goes on
// when that leaves it ACTIVE. Returns Unauthorized for a certificate Imprint
// does not know and may not register, Forbidden (with the reason) for one
// that is not ACTIVE, whose template failed, or whose policies refuse the
// connection.
func (e *Engine) Connect(ctx context.Context, req ConnectRequest) (*Connection, error) {
	if len(req.Chain) == 0 || req.Chain[0] == nil {
		return nil, imprint.Errorf(imprint.Unauthorized, "a client certificate is required")
	}
	leaf := req.Chain[0]
	id := ca.CertificateID(leaf.Raw)
	var (
		c    *imprint.Certificate
		gen  uint64
		err  error
		prov *Provisioned
	)
	if e.certs != nil {
		c, gen = e.certs.get(id)
	}
	fromStore := c == nil
	if fromStore {
		c, err = e.store.Certificate(ctx, id)
	}
	if imprint.ErrorKind(err) == imprint.NotFound || err == nil && e.firstConnectionDue(c) {
		fromStore = false
		if prov, err = e.firstConnection(ctx, req, c); err != nil {
			return nil, err
		}
		c = prov.Certificate
	}
	if err != nil {
		return nil, err
	}
	if err := connectable(c); err != nil {
		return nil, err
	}
	if issuer, err := e.ca.CA(c.CAID); err != nil || issuer.Status != imprint.CAActive {
		return nil, imprint.Errorf(imprint.Forbidden, "the CA %s of certificate %s is not ACTIVE", c.CAID, c.ID)
	}
	if fromStore && e.certs != nil {
		e.certs.put(c, gen)
	}
	thing, policies, err := e.connectionPolicies(ctx, c.ID, req.ClientID, prov)
	if err != nil {
		return nil, err
	}
	conn := &Connection{CertificateID: c.ID, CAID: c.CAID, Serial: c.Serial, Status: c.Status,
		Decider: &Decider{policies: policies, base: policy.Request{ClientID: req.ClientID, CertificateID: c.ID,
			SourceIP: req.SourceIP, ConnectAttributes: req.ConnectAttributes, Thing: thing,
			Certificate: policy.CertificateContext(leaf)}}}
	if thing != nil {
		conn.ThingName = thing.Name
	}
	if req.Protocol == ProtocolMQTT && !conn.Decider.Allowed(policy.ActionConnect, "client/"+req.ClientID) {
		return nil, imprint.Errorf(imprint.Forbidden, "the policies of certificate %s do not allow iot:Connect on client/%s",
			c.ID, req.ClientID)
	}
	return conn, nil
}

// connectionPolicies returns the thing a connection speaks for and its
// compiled effective policies: read from the store, or, for a device its
// first connection just created together with others, from what that
// wrote, when the store would read the same (the client ID names the new
// thing, or names no thing at all).
func (e *Engine) connectionPolicies(ctx context.Context, certID, clientID string, prov *Provisioned) (*policy.Thing, []*policy.Policy, error) {
	if prov != nil && prov.created != nil &&
		(clientID == prov.created.thing.Name || clientID == "" || imprint.ValidateName("clientId", clientID) != nil) {
		policies := make([]*policy.Policy, 0, len(prov.created.versions))
		for _, v := range prov.created.versions {
			p, err := e.compileStored(v)
			if err != nil {
				return nil, nil, err
			}
			policies = append(policies, p)
		}
		return prov.created.thing, policies, nil
	}
	key := certID + "\x00" + clientID
	var stamp authzStamp
	if e.authz != nil && prov == nil {
		var (
			cached authzEntry
			ok     bool
		)
		if cached, ok, stamp = e.authz.get(key, e.store.AuthorizationGeneration()); ok {
			return cached.thing, cached.policies, nil
		}
	}
	thing, err := e.authorizationThing(ctx, certID, AuthorizeRequest{ClientID: clientID})
	if err != nil {
		return nil, nil, err
	}
	policies, err := e.authorizationPolicies(ctx, certID, thing, AuthorizeRequest{})
	if err != nil {
		return nil, nil, err
	}
	// Kept unless a client ID that could name a thing named none: a thing
	// made under that name later (a device's first connection, which
	// announces nothing) would change the answer.
	byName := clientID != "" && imprint.ValidateName("clientId", clientID) == nil
	if e.authz != nil && prov == nil && (!byName || thing != nil && thing.Name == clientID) {
		e.authz.put(key, authzEntry{thing: thing, policies: policies}, stamp, e.store.AuthorizationGeneration())
	}
	return thing, policies, nil
}

// connectable returns why a device holding c may not connect, or nil if it
// may.
func connectable(c *imprint.Certificate) error {
	switch c.Status {
	case imprint.CertificateActive:
		return nil
	case imprint.CertificatePendingActivation:
		return imprint.Errorf(imprint.Forbidden, "certificate %s is PENDING_ACTIVATION: it connects once it is activated", c.ID)
	case imprint.CertificateRevoked:
		return imprint.Errorf(imprint.Forbidden, "certificate %s is REVOKED", c.ID)
	}
	return imprint.Errorf(imprint.Forbidden, "certificate %s is %s: only ACTIVE certificates connect", c.ID, c.Status)
}

// firstConnectionDue reports whether a recorded certificate is still to go
// through its first connection: its CA provisions devices on their first
// connection, and it was not provisioned yet (issued by Imprint, or
// registered by an admin), or it waits for activation under JITR (every
// attempt tells automation again).
func (e *Engine) firstConnectionDue(c *imprint.Certificate) bool {
	if !c.ProvisionedAt.IsZero() {
		return false
	}
	issuer, err := e.ca.CA(c.CAID)
	if err != nil || !issuer.AutoRegistration || issuer.Status != imprint.CAActive {
		return false
	}
	if issuer.ProvisioningTemplate != "" {
		return c.Status == imprint.CertificatePendingActivation || c.Status == imprint.CertificateActive
	}
	return c.Status == imprint.CertificatePendingActivation
}

// firstConnection runs the first connection of the leaf of req (c, if it
// is recorded) under the CA that signed it directly: the one it is recorded
// under, or for an unknown certificate the one the gateway verified it
// against, req.Chain[1].
func (e *Engine) firstConnection(ctx context.Context, req ConnectRequest, c *imprint.Certificate) (*Provisioned, error) {
	var caID string
	switch {
	case c != nil:
		caID = c.CAID
	case len(req.Chain) > 1 && req.Chain[1] != nil:
		caID = ca.CertificateID(req.Chain[1].Raw)
	default:
		return nil, imprint.Errorf(imprint.Unauthorized, "certificate %s is not registered", ca.CertificateID(req.Chain[0].Raw))
	}
	return e.ProvisionFirstConnection(ctx, FirstConnection{Leaf: req.Chain[0], CAID: caID})
}
