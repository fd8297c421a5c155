package catest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
)

// CustomerCA is a customer's own CA for tests: a self-signed P-256 CA
// certificate, its key, and the record Imprint keeps of it as an external
// CA (not stored: the test registers it as it needs).
type CustomerCA struct {
	Cert   *x509.Certificate
	Key    *ecdsa.PrivateKey
	Record *imprint.CA
}

// NewCustomerCA makes a customer CA named name, valid for a day, ACTIVE,
// with auto-registration as given.
func NewCustomerCA(tb testing.TB, name string, autoRegistration bool) *CustomerCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	rec := &imprint.CA{ID: hex.EncodeToString(sum[:]), Name: name, Role: imprint.CAExternal, Status: imprint.CAActive,
		Subject: "CN=" + name, CommonName: name, Serial: cert.SerialNumber.Text(16), KeyAlgorithm: imprint.KeyECDSAP256,
		DER: der, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Profile: imprint.DefaultProfile(),
		AutoRegistration: autoRegistration}
	return &CustomerCA{Cert: cert, Key: key, Record: rec}
}

// Sign signs a device certificate for subject and a new P-256 key, valid for
// an hour, for client authentication, and returns both.
func (c *CustomerCA) Sign(tb testing.TB, subject pkix.Name) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, c.Cert, key.Public(), c.Key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}
