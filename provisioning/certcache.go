package provisioning

import (
	"strings"
	"sync"

	"github.com/imprint-iot/imprint"
)

// maxCachedCertificates bounds the certificate cache; when it is full it
// starts again empty.
const maxCachedCertificates = 200_000

// certCache keeps the ACTIVE certificates Connect read, so that a device
// reconnecting has its status decided in memory. Every change of a
// certificate's standing reaches it: through the engine's own flows at
// once (it is the first StandingListener), and from other replicas
// through Engine.Notify. A lookup that a change overtook is not kept:
// every change moves the generation on, and a certificate read under an
// older generation is dropped.
type certCache struct {
	mu    sync.Mutex
	gen   uint64
	byID  map[string]*imprint.Certificate
	byKey map[string]string // "caID serial" -> ID
}

func newCertCache() *certCache {
	return &certCache{byID: map[string]*imprint.Certificate{}, byKey: map[string]string{}}
}

// get returns the kept certificate id (nil if none) and the generation a
// lookup in the store must give put.
func (c *certCache) get(id string) (*imprint.Certificate, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id], c.gen
}

// put keeps cert, read from the store under generation gen, if it is
// ACTIVE and nothing changed since.
func (c *certCache) put(cert *imprint.Certificate, gen uint64) {
	if cert.Status != imprint.CertificateActive {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.byID) >= maxCachedCertificates {
		clear(c.byID)
		clear(c.byKey)
	}
	kept := *cert
	kept.DER = nil // a decision needs the chain the device presented, not the stored copy
	c.byID[cert.ID] = &kept
	c.byKey[cert.CAID+" "+cert.Serial] = cert.ID
}

// Invalidate forgets the certificate caID and serial; serial "*" names
// every certificate of the CA, and an empty caID every certificate.
func (c *certCache) Invalidate(caID, serial string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch {
	case caID != "" && serial != "*":
		k := caID + " " + strings.ToLower(serial)
		delete(c.byID, c.byKey[k])
		delete(c.byKey, k)
	case caID != "":
		for k, id := range c.byKey {
			if strings.HasPrefix(k, caID+" ") {
				delete(c.byID, id)
				delete(c.byKey, k)
			}
		}
	default:
		clear(c.byID)
		clear(c.byKey)
	}
}

// Notify takes the store's notifications, as the server relays them to
// every worker: a change of standing on another replica
// (imprint.ChannelRevocations, "<caID> <serial>" or "<caID> *"), a change
// of a CA (imprint.ChannelCAs), a change of what decides connections
// (imprint.ChannelAuthorization), or an empty payload after the listener
// reconnected, when notifications may have been lost. The caches forget
// what they name. Call it before passing the notification
// to the gateway, which may put its sessions to Connect again.
func (e *Engine) Notify(channel, payload string) {
	if e.certs == nil {
		return
	}
	switch {
	case channel == imprint.ChannelRevocations:
		caID, serial, _ := strings.Cut(payload, " ")
		e.certs.Invalidate(caID, serial)
	case channel == imprint.ChannelCAs:
		e.certs.Invalidate("", "")
	case channel == imprint.ChannelAuthorization:
		e.authz.flush()
	}
}
