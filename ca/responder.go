package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the ResponderID byKey is a SHA-1 (RFC 6960 4.2.1)
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/imprint-iot/imprint"
)

// OCSPStore is what the OCSP responder needs from the database.
type OCSPStore interface {
	CertificateStanding(ctx context.Context, caID, serial string) (*imprint.Standing, error)
	OCSPSigner(ctx context.Context, caID string, validUntil time.Time) (*imprint.OCSPSigner, error)
	OCSPSignerOrCreate(ctx context.Context, caID string, validUntil time.Time,
		create func(context.Context) (*imprint.OCSPSigner, error)) (*imprint.OCSPSigner, error)
}

// OCSPOptions shape the responder. Zero fields take the defaults.
type OCSPOptions struct {
	// Validity is the time from thisUpdate to nextUpdate of a response
	// (default 1 h). Cached responses are signed again at half of it.
	Validity time.Duration
	// SignerValidity is the lifetime of a delegated responder certificate
	// (default 30 days); a new one is made when a third of it is left.
	SignerValidity time.Duration
	// Now is the responder's clock (default time.Now): the time of its
	// responses, of its signers' validity, and of their rotation.
	Now func() time.Time
}

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// OCSPResponder answers OCSP requests (RFC 6960) for Imprint's issuing CAs,
// signing with delegated responder certificates it makes and rotates itself.
// Responses to single requests without a nonce are kept signed in memory
// until the certificate's standing changes (Notify) or half their validity
// has passed.
type OCSPResponder struct {
	auth  *Authority
	store OCSPStore
	opts  OCSPOptions
	log   *slog.Logger

	making singleflight.Group // by CA ID: one load or make of a signer at a time

	mu      sync.Mutex
	signers map[string]*ocspSigner
	hashes  map[string]issuerHashes
	cache   map[string]*ocspCache // by CA ID
}

type ocspCache struct {
	gen     uint64 // bumped by every change, so a response read before it is not kept
	entries map[string]cachedOCSP
}

type cachedOCSP struct {
	der       []byte
	refreshAt time.Time
}

// NewOCSPResponder returns a responder for the CAs of a.
func NewOCSPResponder(a *Authority, store OCSPStore, opts OCSPOptions, log *slog.Logger) *OCSPResponder {
	if opts.Validity <= 0 {
		opts.Validity = time.Hour
	}
	if opts.SignerValidity <= 0 {
		opts.SignerValidity = 30 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &OCSPResponder{auth: a, store: store, opts: opts, log: log, signers: map[string]*ocspSigner{},
		hashes: map[string]issuerHashes{}, cache: map[string]*ocspCache{}}
}

// Notify takes the store's notifications of changes of standing and drops
// the responses they make stale. An empty payload drops everything.
func (r *OCSPResponder) Notify(channel, payload string) {
	if channel != imprint.ChannelRevocations {
		return
	}
	caID, serial, _ := strings.Cut(payload, " ")
	r.Invalidate(caID, serial)
}

// Invalidate drops the kept responses about a certificate ("*" for all of a
// CA; an empty caID for all).
func (r *OCSPResponder) Invalidate(caID, serial string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if caID == "" {
		for _, c := range r.cache {
			c.gen++
			clear(c.entries)
		}
		return
	}
	c := r.cacheFor(caID)
	c.gen++
	if serial == "*" {
		clear(c.entries)
		return
	}
	for k := range c.entries {
		if strings.HasSuffix(k, " "+serial) {
			delete(c.entries, k)
		}
	}
}

// cacheFor returns a CA's cache; r.mu is held.
func (r *OCSPResponder) cacheFor(caID string) *ocspCache {
	c, ok := r.cache[caID]
	if !ok {
		c = &ocspCache{entries: map[string]cachedOCSP{}}
		r.cache[caID] = c
	}
	return c
}

// Respond answers a DER OCSPRequest for the CA caID with a DER OCSPResponse,
// and says whether the answer may be cached by HTTP caches. A malformed
// request gets malformedRequest; a CA that is not ours, or a certificate of
// another CA, unauthorized (RFC 6960 2.3).
func (r *OCSPResponder) Respond(ctx context.Context, caID string, reqDER []byte) ([]byte, bool) {
	req, err := parseOCSPRequest(reqDER)
	if err != nil {
		return ocspError(ocspMalformedRequest), false
	}
	hashes, ok := r.issuerHashes(caID)
	if !ok {
		return ocspError(ocspUnauthorized), false
	}
	for _, id := range req.certs {
		if !hashes.matches(id) {
			return ocspError(ocspUnauthorized), false
		}
	}
	cacheable := len(req.certs) == 1 && req.nonce == nil
	key := ""
	if cacheable {
		key = req.certs[0].hashAlg.String() + " " + req.certs[0].serialHex
		if der, ok := r.cached(caID, key); ok {
			return der, true
		}
	}
	r.mu.Lock()
	gen := r.cacheFor(caID).gen
	r.mu.Unlock()
	statuses := make([]ocspStatus, len(req.certs))
	for i, id := range req.certs {
		if statuses[i], err = r.status(ctx, caID, id.serialHex); err != nil {
			r.log.Warn("OCSP status lookup", "ca", caID, "err", err)
			return ocspError(ocspTryLater), false
		}
	}
	signer, err := r.signer(ctx, caID)
	if err != nil {
		r.log.Error("OCSP signer", "ca", caID, "err", err)
		return ocspError(ocspInternalError), false
	}
	now := r.opts.Now().UTC().Truncate(time.Second)
	der, err := encodeOCSPResponse(signer, req.certs, statuses, req.nonce, now, now.Add(r.opts.Validity))
	if err != nil {
		r.log.Error("OCSP response", "ca", caID, "err", err)
		return ocspError(ocspInternalError), false
	}
	if cacheable {
		r.mu.Lock()
		if c := r.cacheFor(caID); c.gen == gen { // nothing changed while we looked
			c.entries[key] = cachedOCSP{der: der, refreshAt: now.Add(r.opts.Validity / 2)}
		}
		r.mu.Unlock()
	}
	return der, cacheable
}

func (r *OCSPResponder) cached(caID, key string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cacheFor(caID).entries[key]
	if !ok || r.opts.Now().After(e.refreshAt) {
		return nil, false
	}
	return e.der, true
}

func (r *OCSPResponder) status(ctx context.Context, caID, serial string) (ocspStatus, error) {
	s, err := r.store.CertificateStanding(ctx, caID, serial)
	switch {
	case imprint.ErrorKind(err) == imprint.NotFound:
		return ocspStatus{}, nil
	case err != nil:
		return ocspStatus{}, err
	case s.Status == imprint.CertificateRevoked && s.Revocation != nil:
		return ocspStatus{known: true, revoked: true, revokedAt: s.Revocation.At, reason: s.Revocation.Reason}, nil
	case s.Status == imprint.CertificateInactive: // suspended: certificateHold (RFC 5280 5.3.1)
		return ocspStatus{known: true, revoked: true, revokedAt: s.StatusChangedAt, reason: imprint.ReasonCertificateHold}, nil
	}
	return ocspStatus{known: true}, nil
}

// issuerHashes returns the CertID hashes of an issuing CA of ours.
func (r *OCSPResponder) issuerHashes(caID string) (issuerHashes, bool) {
	r.mu.Lock()
	h, ok := r.hashes[caID]
	r.mu.Unlock()
	if ok {
		return h, true
	}
	r.auth.mu.RLock()
	iss, ok := r.auth.issuers[caID]
	r.auth.mu.RUnlock()
	if !ok {
		return nil, false
	}
	h, err := newIssuerHashes(iss.cert)
	if err != nil {
		return nil, false
	}
	r.mu.Lock()
	r.hashes[caID] = h
	r.mu.Unlock()
	return h, true
}

// signerLoadTimeout bounds loading or making a signer, which outlives the
// request that started it when others wait for it too.
const signerLoadTimeout = 30 * time.Second

// signer returns the CA's current delegated signer, loading or making one
// when the one in hand has less than a third of its life left. Concurrent
// requests for a CA share one load; replicas share one signer through the
// store.
func (r *OCSPResponder) signer(ctx context.Context, caID string) (*ocspSigner, error) {
	if s, ok := r.currentSigner(caID); ok {
		return s, nil
	}
	v, err, _ := r.making.Do(caID, func() (any, error) {
		if s, ok := r.currentSigner(caID); ok { // a load that just finished
			return s, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), signerLoadTimeout)
		defer cancel()
		s, err := r.loadOrMakeSigner(ctx, caID, r.renewAt(caID))
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.signers[caID] = s
		r.mu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*ocspSigner), nil
}

// currentSigner returns the signer in hand if it need not be replaced yet.
func (r *OCSPResponder) currentSigner(caID string) (*ocspSigner, bool) {
	r.mu.Lock()
	s, ok := r.signers[caID]
	r.mu.Unlock()
	return s, ok && (s.cert == nil || s.cert.NotAfter.After(r.renewAt(caID)))
}

// renewAt is the time a signer must outlive not to be replaced: a third of
// a signer's life from now, or, if the CA expires before that, just before
// the CA does (no signer can outlive it, and each new one would be replaced
// at once).
func (r *OCSPResponder) renewAt(caID string) time.Time {
	at := r.opts.Now().Add(r.opts.SignerValidity / 3)
	r.auth.mu.RLock()
	iss, ok := r.auth.issuers[caID]
	r.auth.mu.RUnlock()
	if ok && !iss.cert.NotAfter.After(at) {
		at = iss.cert.NotAfter.Add(-time.Second)
	}
	return at
}

func (r *OCSPResponder) loadOrMakeSigner(ctx context.Context, caID string, renewAt time.Time) (*ocspSigner, error) {
	rec, err := r.store.OCSPSigner(ctx, caID, renewAt)
	if imprint.ErrorKind(err) == imprint.NotFound {
		rec, err = r.auth.makeOCSPSigner(ctx, r.store, caID, renewAt, r.opts.Now(), r.opts.SignerValidity)
	}
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, err
	}
	key, err := r.auth.loadSigner(ctx, rec.KeyURI)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, imprint.Errorf(imprint.Internal, "the key of OCSP signer %s does not match it", rec.ID)
	}
	return newOCSPSigner(cert, key, true)
}

func newOCSPSigner(cert *x509.Certificate, key crypto.Signer, chain bool) (*ocspSigner, error) {
	bits, err := publicKeyBits(cert)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(bits) //nolint:gosec // RFC 6960 KeyHash
	alg, hash, err := signatureAlgorithm(key.Public())
	if err != nil {
		return nil, err
	}
	return &ocspSigner{cert: cert, signer: key, keyHash: sum[:], sigAlg: alg, hash: hash, chain: chain}, nil
}

// makeOCSPSigner returns the CA's signer valid until renewAt, making and
// recording a delegated OCSP responder certificate, valid from now, if the
// store has none: id-kp-OCSPSigning, with id-pkix-ocsp-nocheck so that
// clients need not check its own revocation (RFC 6960 4.2.2.2.1). The store
// decides under a lock, so replicas asking at once make one; the key file of
// a signer that is not recorded is removed.
func (a *Authority) makeOCSPSigner(ctx context.Context, store OCSPStore, caID string, renewAt, now time.Time, validity time.Duration) (*imprint.OCSPSigner, error) {
	var made *imprint.OCSPSigner
	rec, err := store.OCSPSignerOrCreate(ctx, caID, renewAt, func(context.Context) (*imprint.OCSPSigner, error) {
		var err error
		made, err = a.newOCSPSignerRecord(caID, now, validity)
		return made, err
	})
	if err != nil {
		if made != nil {
			if rmErr := a.removeKey(made.KeyURI); rmErr != nil {
				a.log.Error("remove the key of an unrecorded OCSP signer", "ca", caID, "signer", made.ID, "err", rmErr)
			}
		}
		return nil, err
	}
	if made != nil {
		a.log.Info("made an OCSP signer", "ca", caID, "signer", made.ID, "not_after", made.NotAfter)
	}
	return rec, nil
}

// newOCSPSignerRecord signs a delegated OCSP responder certificate for an
// issuing CA, valid from now, and writes its key file.
func (a *Authority) newOCSPSignerRecord(caID string, now time.Time, validity time.Duration) (*imprint.OCSPSigner, error) {
	a.mu.RLock()
	iss, ok := a.issuers[caID]
	a.mu.RUnlock()
	if !ok {
		return nil, imprint.Errorf(imprint.NotFound, "CA %s not found", caID)
	}
	key, err := imprint.KeyECDSAP256.GenerateKey()
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	notAfter := now.Add(validity)
	if notAfter.After(iss.cert.NotAfter) {
		notAfter = iss.cert.NotAfter
	}
	tpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: iss.cert.Subject.Organization, CommonName: truncate(iss.cert.Subject.CommonName+" OCSP", 64)},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck, Value: []byte{0x05, 0x00}}},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, iss.cert, key.Public(), iss.signer)
	if err != nil {
		return nil, err
	}
	id := certificateID(der)
	uri, err := a.writeKey(key, "ocsp-"+id)
	if err != nil {
		return nil, err
	}
	return &imprint.OCSPSigner{ID: id, CAID: caID, DER: der, KeyURI: uri, NotBefore: tpl.NotBefore, NotAfter: notAfter}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
