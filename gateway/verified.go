package gateway

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// maxVerified bounds the verified-chain cache; when it is full it starts
// again empty.
const maxVerified = 100_000

// verifiedChains keeps the chains of client certificates the listener
// verified against its trust pool, by the SHA-256 of the certificate's DER,
// so that a device reconnecting has its certificate's signature checked
// once per trust pool rather than on every handshake. A chain is kept only
// with the pool it was verified against: a new pool (a CA registered,
// deactivated or changed) makes every kept chain verify again. The
// validity periods are checked on every use. The handshake's own proof that
// the client holds the certificate's key is never skipped.
type verifiedChains struct {
	mu      sync.Mutex
	pool    *x509.CertPool
	issuers map[[32]byte]*x509.Certificate // the certificate's issuer, from the pool
}

// get returns the chain kept for leaf under pool, if it is valid at now.
func (v *verifiedChains) get(leaf *x509.Certificate, pool *x509.CertPool, now time.Time) []*x509.Certificate {
	key := sha256.Sum256(leaf.Raw)
	v.mu.Lock()
	issuer, ok := v.issuers[key]
	same := v.pool == pool
	v.mu.Unlock()
	if !ok || !same {
		return nil
	}
	for _, c := range []*x509.Certificate{leaf, issuer} {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil
		}
	}
	return []*x509.Certificate{leaf, issuer}
}

// put keeps the chain of leaf, verified against pool.
func (v *verifiedChains) put(chain []*x509.Certificate, pool *x509.CertPool) {
	key := sha256.Sum256(chain[0].Raw)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pool != pool || v.issuers == nil || len(v.issuers) >= maxVerified {
		v.pool, v.issuers = pool, make(map[[32]byte]*x509.Certificate)
	}
	v.issuers[key] = chain[1]
}
