// Package ca is Imprint's certificate authority: the CA hierarchy, its keys
// (referenced by KMS URI, never stored in the database), and the issuing of
// device certificates from CSRs. Signing goes through smallstep's embedded
// authority; no smallstep type appears in this package's API.
package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	casapi "github.com/smallstep/certificates/cas/apiv1"
	"github.com/smallstep/certificates/cas/softcas"

	"github.com/imprint-iot/imprint"
)

// Store is what the authority needs from the database.
type Store interface {
	CAs(ctx context.Context) ([]*imprint.CA, error)
	CreateCA(ctx context.Context, ca *imprint.CA, actor imprint.Actor) error
	CertificateBySerial(ctx context.Context, caID, serial string) (*imprint.Certificate, error)
}

// Config configures an Authority.
type Config struct {
	// DataDir holds the CA key files, under DataDir/ca.
	DataDir string
	// Passphrase encrypts and decrypts the CA key files. Required.
	Passphrase []byte
	// PublicURL is the base of the CRL, OCSP and CA-issuer URLs put in every
	// certificate, such as "https://imprint.example.com".
	PublicURL string
	Log       *slog.Logger
}

// Authority issues device certificates from Imprint's CAs. It is safe for
// concurrent use.
type Authority struct {
	store      Store
	dataDir    string
	passphrase []byte
	publicURL  string
	log        *slog.Logger

	mu      sync.RWMutex
	cas     map[string]*imprint.CA // every CA, by ID
	issuers map[string]*issuer     // CAs whose key is loaded, by ID
	roots   []*x509.Certificate
	trust   *x509.CertPool // see TrustPool
	loadErr error          // why an issuing CA's key did not load at the last Reload; nil if all did
}

// issuer is an issuing CA with its key loaded.
type issuer struct {
	ca       *imprint.CA
	cert     *x509.Certificate
	chain    []*x509.Certificate // the CA certificate, then up to the root
	chainPEM []byte
	signer   crypto.Signer
	cas      *softcas.SoftCAS // smallstep's CA service over the CA's certificate and key
	cnRE     *regexp.Regexp
	urls     issuerURLs
}

type issuerURLs struct {
	crl, deltaCRL, ocsp, caIssuer string
}

// New returns an authority with every CA of the store loaded. A store with no
// CA gives an authority that issues nothing until Init.
func New(ctx context.Context, cfg Config, store Store) (*Authority, error) {
	if len(cfg.Passphrase) == 0 {
		return nil, imprint.Errorf(imprint.Invalid, "a CA key passphrase is required")
	}
	a := &Authority{
		store:      store,
		dataDir:    cfg.DataDir,
		passphrase: cfg.Passphrase,
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
		log:        cfg.Log,
		cas:        map[string]*imprint.CA{},
		issuers:    map[string]*issuer{},
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	// Start-up fails fast when issuing CAs exist and not one key loads: a
	// wrong passphrase or a missing data directory, not one CA's trouble.
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.issuers) == 0 && a.loadErr != nil {
		return nil, fmt.Errorf("no issuing CA's key can be loaded (is the passphrase right?): %w", a.loadErr)
	}
	return a, nil
}

// Reload reads the CAs from the store and loads the keys of issuing CAs not
// loaded yet. An issuing CA whose key cannot be loaded is logged and left
// out (it issues nothing on this replica, and Reload tries again next time);
// the others are loaded all the same. Returns an error only when the store
// cannot be read.
func (a *Authority) Reload(ctx context.Context) error {
	cas, err := a.store.CAs(ctx)
	if err != nil {
		return fmt.Errorf("read CAs: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loadErr = nil
	for _, c := range cas {
		a.cas[c.ID] = c
		switch c.Role {
		case imprint.CARoot:
			if !a.hasRoot(c.ID) {
				cert, err := x509.ParseCertificate(c.DER)
				if err != nil {
					a.log.ErrorContext(ctx, "root CA certificate does not parse", "ca", c.ID, "err", err)
					continue
				}
				a.roots = append(a.roots, cert)
			}
		case imprint.CAIssuing:
			if old, ok := a.issuers[c.ID]; ok {
				// The status or profile may have changed. Replace the issuer
				// rather than change it: Issue reads it without the lock.
				cnRE, err := c.Profile.CommonNameRegexp()
				if err != nil {
					a.log.ErrorContext(ctx, "issuing CA profile", "ca", c.ID, "name", c.Name, "err", err)
					continue
				}
				upd := *old
				upd.ca, upd.cnRE = c, cnRE
				a.issuers[c.ID] = &upd
			}
		}
	}
	for _, c := range cas {
		if c.Role != imprint.CAIssuing || a.issuers[c.ID] != nil {
			continue
		}
		iss, err := a.loadIssuer(ctx, c)
		if err != nil {
			a.loadErr = fmt.Errorf("issuing CA %s (%s): %w", c.Name, c.ID, err)
			a.log.ErrorContext(ctx, "issuing CA not loaded; it issues nothing here until its key can be loaded",
				"ca", c.ID, "name", c.Name, "err", err)
			continue
		}
		a.issuers[c.ID] = iss
	}
	a.trust = a.trustPool()
	return nil
}

// TrustPool returns the certificates of the ACTIVE CAs that sign device
// certificates (issuing and external), which a device listener trusts as
// the direct issuers of client certificates. It is rebuilt by Reload; the
// pool returned must not be changed.
func (a *Authority) TrustPool() *x509.CertPool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.trust
}

// trustPool builds the pool TrustPool returns. a.mu is held.
func (a *Authority) trustPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range a.cas {
		if c.Role == imprint.CARoot || c.Status != imprint.CAActive {
			continue
		}
		if iss, ok := a.issuers[c.ID]; ok {
			pool.AddCert(iss.cert)
			continue
		}
		if cert, err := x509.ParseCertificate(c.DER); err == nil {
			pool.AddCert(cert)
		}
	}
	return pool
}

func (a *Authority) hasRoot(id string) bool {
	for _, r := range a.roots {
		if certificateID(r.Raw) == id {
			return true
		}
	}
	return false
}

// loadIssuer loads c's key and builds its signing pipeline. a.mu is held.
func (a *Authority) loadIssuer(ctx context.Context, c *imprint.CA) (*issuer, error) {
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	chain := []*x509.Certificate{cert}
	for p := a.cas[c.ParentID]; p != nil; p = a.cas[p.ParentID] {
		pc, err := x509.ParseCertificate(p.DER)
		if err != nil {
			return nil, fmt.Errorf("parse parent certificate: %w", err)
		}
		chain = append(chain, pc)
		if p.Role == imprint.CARoot {
			break
		}
	}
	root := chain[len(chain)-1]
	if root == cert || root.Subject.String() != root.Issuer.String() {
		return nil, fmt.Errorf("no root CA above it")
	}
	signer, err := a.loadSigner(ctx, c.KeyURI)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("the key at %s does not match the CA certificate", c.KeyURI)
	}
	cas, err := softcas.New(ctx, casapi.Options{CertificateChain: chain[:len(chain)-1], Signer: signer})
	if err != nil {
		return nil, fmt.Errorf("CA service: %w", err)
	}
	cnRE, err := c.Profile.CommonNameRegexp()
	if err != nil {
		return nil, err
	}
	var buf strings.Builder
	for _, x := range chain {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})
	}
	return &issuer{
		ca: c, cert: cert, chain: chain, chainPEM: []byte(buf.String()), signer: signer,
		cas: cas, cnRE: cnRE,
		urls: issuerURLs{
			crl:      a.publicURL + "/crl/" + c.ID + ".crl",
			deltaCRL: a.publicURL + "/crl/" + c.ID + "/delta.crl",
			ocsp:     a.publicURL + "/ocsp/" + c.ID,
			caIssuer: a.publicURL + "/ca/" + c.ID + ".crt",
		},
	}, nil
}

// CAs returns every CA, roots first.
func (a *Authority) CAs() []*imprint.CA {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]*imprint.CA, 0, len(a.cas))
	for _, c := range a.cas {
		out = append(out, c)
	}
	sortCAs(out)
	return out
}

// CA returns the CA with the given ID. Returns NotFound if there is none.
func (a *Authority) CA(id string) (*imprint.CA, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	c, ok := a.cas[id]
	if !ok {
		return nil, imprint.Errorf(imprint.NotFound, "CA %s not found", id)
	}
	return c, nil
}

// ChainPEM returns the PEM certificates from the CA with the given ID up to
// its root, the CA first. Returns NotFound if there is no such CA.
func (a *Authority) ChainPEM(id string) ([]byte, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if iss, ok := a.issuers[id]; ok {
		return iss.chainPEM, nil
	}
	c, ok := a.cas[id]
	if !ok {
		return nil, imprint.Errorf(imprint.NotFound, "CA %s not found", id)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}), nil
}

// Ready returns Unavailable unless at least one issuing CA is loaded.
func (a *Authority) Ready() error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.issuers) == 0 {
		return imprint.Errorf(imprint.Unavailable, "no issuing CA is loaded")
	}
	return nil
}

// defaultIssuer returns the oldest active issuing CA. a.mu is held.
func (a *Authority) defaultIssuer() *issuer {
	var best *issuer
	for _, iss := range a.issuers {
		if iss.ca.Status != imprint.CAActive {
			continue
		}
		if best == nil || iss.ca.CreatedAt.Before(best.ca.CreatedAt) ||
			(iss.ca.CreatedAt.Equal(best.ca.CreatedAt) && iss.ca.ID < best.ca.ID) {
			best = iss
		}
	}
	return best
}
