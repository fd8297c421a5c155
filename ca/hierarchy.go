package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/imprint-iot/imprint"
)

// Validity of the CA certificates Imprint creates.
const (
	RootValidity    = 20 * 365 * 24 * time.Hour
	IssuingValidity = 10 * 365 * 24 * time.Hour
)

// InitRequest describes the hierarchy Init creates.
type InitRequest struct {
	// Organization goes in the subjects of both CAs; "Imprint" if empty.
	Organization string
	// KeyType of both CA keys: KeyECDSAP256 (the default) or KeyECDSAP384.
	KeyType imprint.KeyType
}

// Init creates the root CA and a first issuing CA under it, with their
// encrypted key files, and records both. Returns Conflict if a root exists.
func (a *Authority) Init(ctx context.Context, req InitRequest) (root, issuing *imprint.CA, err error) {
	if a.Root() != nil {
		return nil, nil, imprint.Errorf(imprint.Conflict, "the CA is already initialised")
	}
	if req.Organization == "" {
		req.Organization = "Imprint"
	}
	kt, err := caKeyType(req.KeyType)
	if err != nil {
		return nil, nil, err
	}
	key, err := kt.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	tpl := caTemplate(pkix.Name{Organization: []string{req.Organization}, CommonName: req.Organization + " Root CA"},
		RootValidity, 1)
	root, err = a.createCA(ctx, "root", imprint.CARoot, tpl, nil, key, key, imprint.IssuanceProfile{})
	if err != nil {
		return nil, nil, err
	}
	issuing, err = a.CreateIssuingCA(ctx, CreateCARequest{
		Name: "default", Organization: req.Organization, KeyType: kt, Profile: imprint.DefaultProfile(),
	})
	if err != nil {
		return nil, nil, err
	}
	return root, issuing, nil
}

// CreateCARequest describes a new issuing CA.
type CreateCARequest struct {
	Name         string // unique; also names the key file
	Organization string // "Imprint" if empty
	CommonName   string // "<Organization> <Name> Issuing CA" if empty
	KeyType      imprint.KeyType
	Profile      imprint.IssuanceProfile
}

// CreateIssuingCA creates an issuing CA under the root, with its issuance
// profile. Returns Invalid for a bad request, Conflict if the name is taken,
// and Unavailable if there is no root.
func (a *Authority) CreateIssuingCA(ctx context.Context, req CreateCARequest) (*imprint.CA, error) {
	if err := validateCAName(req.Name); err != nil {
		return nil, err
	}
	if !printable(req.CommonName) {
		return nil, imprint.Errorf(imprint.Invalid, "commonName holds control or bidirectional formatting characters, or invalid UTF-8")
	}
	if !printable(req.Organization) || len(req.Organization) > 64 { // ub-organization-name, RFC 5280 A.1
		return nil, imprint.Errorf(imprint.Invalid, "organization must be at most 64 characters without control or bidirectional formatting characters")
	}
	if err := req.Profile.Validate(); err != nil {
		return nil, err
	}
	kt, err := caKeyType(req.KeyType)
	if err != nil {
		return nil, err
	}
	rootCA := a.Root()
	if rootCA == nil {
		return nil, imprint.Errorf(imprint.Unavailable, "the CA is not initialised (run imprint ca init)")
	}
	rootCert, err := x509.ParseCertificate(rootCA.DER)
	if err != nil {
		return nil, fmt.Errorf("parse root: %w", err)
	}
	rootKey, err := a.loadSigner(ctx, rootCA.KeyURI)
	if err != nil { // the cause names the key's location: logged, never shown
		return nil, &imprint.Error{Kind: imprint.Unavailable, Message: "the root CA's key cannot be loaded", Err: err}
	}
	if req.Organization == "" {
		req.Organization = "Imprint"
	}
	if req.CommonName == "" {
		req.CommonName = fmt.Sprintf("%s %s Issuing CA", req.Organization, req.Name)
	}
	if len(req.CommonName) > imprint.MaxCommonNameLength {
		return nil, imprint.Errorf(imprint.Invalid, "commonName is longer than %d characters", imprint.MaxCommonNameLength)
	}
	key, err := kt.GenerateKey()
	if err != nil {
		return nil, err
	}
	validity := min(IssuingValidity, time.Until(rootCert.NotAfter))
	tpl := caTemplate(pkix.Name{Organization: []string{req.Organization}, CommonName: req.CommonName}, validity, 0)
	tpl.KeyUsage |= x509.KeyUsageDigitalSignature // OCSP responses signed by the CA itself
	c, err := a.createCA(ctx, req.Name, imprint.CAIssuing, tpl, rootCert, key, rootKey, req.Profile)
	if err != nil {
		return nil, err
	}
	c.ParentID = rootCA.ID
	return c, nil
}

// createCA signs tpl, writes key, and records the CA, then loads it.
func (a *Authority) createCA(ctx context.Context, name string, role imprint.CARole, tpl, parent *x509.Certificate,
	key, parentKey crypto.Signer, profile imprint.IssuanceProfile) (*imprint.CA, error) {
	if parent == nil {
		parent = tpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	id := certificateID(der)
	uri, err := a.writeKey(key, id)
	if err != nil {
		return nil, err
	}
	kt, _ := KeyTypeOf(key.Public())
	c := &imprint.CA{
		ID: id, Name: name, Role: role, Status: imprint.CAActive, Subject: cert.Subject.String(),
		CommonName: cert.Subject.CommonName, Serial: cert.SerialNumber.Text(16),
		KeyAlgorithm: kt, KeyURI: uri, DER: der, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		Profile: profile,
	}
	if role == imprint.CAIssuing {
		c.ParentID = certificateID(parent.Raw)
	}
	if err := a.store.CreateCA(ctx, c, imprint.ActorFromContext(ctx)); err != nil {
		os.Remove(filepath.Join(a.dataDir, "ca", id+".key"))
		return nil, err
	}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Root returns the root CA, or nil before Init.
func (a *Authority) Root() *imprint.CA {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, c := range a.cas {
		if c.Role == imprint.CARoot {
			return c
		}
	}
	return nil
}

func caTemplate(subject pkix.Name, validity time.Duration, maxPathLen int) *x509.Certificate {
	now := time.Now().UTC().Truncate(time.Second)
	return &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               subject,
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}
}

func caKeyType(kt imprint.KeyType) (imprint.KeyType, error) {
	switch kt {
	case "":
		return imprint.KeyECDSAP256, nil
	case imprint.KeyECDSAP256, imprint.KeyECDSAP384:
		return kt, nil
	}
	return "", imprint.Errorf(imprint.Invalid, "CA key type %q is not supported (use %s or %s)",
		kt, imprint.KeyECDSAP256, imprint.KeyECDSAP384)
}

func validateCAName(name string) error {
	if name == "" || len(name) > 64 {
		return imprint.Errorf(imprint.Invalid, "name must be 1 to 64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return imprint.Errorf(imprint.Invalid, "name may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// randomSerial returns a random positive 128-bit serial number (RFC 5280
// 4.1.2.2: at most 20 octets).
func randomSerial() *big.Int {
	b := make([]byte, 16)
	for {
		rand.Read(b)
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n
		}
	}
}

// certificateID returns the lowercase hex SHA-256 of der, the ID of
// certificates and CAs.
func certificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// CertificateID returns the ID of the certificate with the given DER: its
// lowercase hex SHA-256, as AWS IoT computes it.
func CertificateID(der []byte) string { return certificateID(der) }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func sortCAs(cas []*imprint.CA) {
	slices.SortFunc(cas, func(x, y *imprint.CA) int {
		if (x.Role == imprint.CARoot) != (y.Role == imprint.CARoot) {
			if x.Role == imprint.CARoot {
				return -1
			}
			return 1
		}
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
}
