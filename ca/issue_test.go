package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

const day = 24 * time.Hour

// strictProfile is the profile of the "strict" CA the tests create next to
// the default one.
var strictProfile = imprint.IssuanceProfile{
	ValidityDays:      365,
	KeyTypes:          []imprint.KeyType{imprint.KeyECDSAP256},
	CommonNamePattern: `device-[0-9a-f]{8}`,
	SANTypes:          []string{imprint.SANDNS},
}

func mustCreateCA(tb testing.TB, a *ca.Authority, name string, p imprint.IssuanceProfile) *imprint.CA {
	tb.Helper()
	c, err := a.CreateIssuingCA(context.Background(), ca.CreateCARequest{Name: name, Profile: p})
	if err != nil {
		tb.Fatalf("CreateIssuingCA(%s) error = %v", name, err)
	}
	return c
}

func mustKey(tb testing.TB, kt imprint.KeyType) crypto.Signer {
	tb.Helper()
	k, err := kt.GenerateKey()
	if err != nil {
		tb.Fatalf("GenerateKey(%s) error = %v", kt, err)
	}
	return k
}

// wantValidity checks cert was issued now by issuer for the given
// lifetime: it is valid now (never issued expired or not yet valid),
// backdated one minute, and does not outlive its CA.
func wantValidity(t *testing.T, cert, issuer *x509.Certificate, issued time.Time, lifetime time.Duration) {
	t.Helper()
	now := time.Now()
	if !cert.NotBefore.Before(now) || !cert.NotAfter.After(now) {
		t.Fatalf("validity %v to %v does not contain now (%v)", cert.NotBefore, cert.NotAfter, now)
	}
	if cert.NotBefore.Before(issued.Add(-2*time.Minute)) || cert.NotBefore.After(issued) {
		t.Errorf("NotBefore = %v, want about a minute before %v", cert.NotBefore, issued)
	}
	want := cert.NotBefore.Add(time.Minute + lifetime)
	if want.After(issuer.NotAfter) {
		want = issuer.NotAfter
	}
	if !cert.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v: NotBefore plus a minute of backdating plus %v, capped at the CA's %v",
			cert.NotAfter, want, lifetime, issuer.NotAfter)
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	key := mustKey(t, imprint.KeyECDSAP256)
	spiffe, _ := url.Parse("spiffe://acme.example/device/0001")
	csr := mustCSR(t, key, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "device-0001", Organization: []string{"Acme"}},
		DNSNames: []string{"device-0001.acme.example"},
		URIs:     []*url.URL{spiffe},
	})
	start := time.Now()
	iss := mustIssue(t, e.a, ca.IssueRequest{CSR: csr})
	c := iss.Certificate
	leaf := mustParseCert(t, c.DER)
	issCert, rootCert := mustParseCert(t, issuing.DER), mustParseCert(t, root.DER)

	if c.ID != sha256Hex(c.DER) {
		t.Errorf("ID = %s, want the hex SHA-256 of the DER %s", c.ID, sha256Hex(c.DER))
	}
	if c.ID != ca.CertificateID(c.DER) {
		t.Errorf("ID = %s, CertificateID() = %s", c.ID, ca.CertificateID(c.DER))
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 || c.Serial != leaf.SerialNumber.Text(16) {
		t.Errorf("serial = %x (Serial %q), want a positive 128-bit number in lowercase hex", leaf.SerialNumber, c.Serial)
	}
	if c.CAID != issuing.ID || c.KeyAlgorithm != imprint.KeyECDSAP256 || c.Status != imprint.CertificateActive {
		t.Errorf("CAID, KeyAlgorithm, Status = %s, %s, %s, want %s, EC-P256, ACTIVE", c.CAID, c.KeyAlgorithm, c.Status, issuing.ID)
	}
	if c.CommonName != "device-0001" || c.Subject != leaf.Subject.String() || leaf.Subject.Organization[0] != "Acme" {
		t.Errorf("CommonName, Subject = %q, %q, want device-0001, O=Acme", c.CommonName, c.Subject)
	}
	wantSANs := []string{"dns:device-0001.acme.example", "uri:spiffe://acme.example/device/0001"}
	if !reflect.DeepEqual(c.SANs, wantSANs) {
		t.Errorf("SANs = %q, want %q", c.SANs, wantSANs)
	}
	if !c.NotBefore.Equal(leaf.NotBefore) || !c.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("recorded validity %v to %v, certificate's %v to %v", c.NotBefore, c.NotAfter, leaf.NotBefore, leaf.NotAfter)
	}
	wantValidity(t, leaf, issCert, start, imprint.DefaultValidityDays*day)

	if leaf.IsCA || !leaf.BasicConstraintsValid {
		t.Errorf("IsCA, BasicConstraintsValid = %v, %v, want an explicit CA:FALSE", leaf.IsCA, leaf.BasicConstraintsValid)
	}
	if !reflect.DeepEqual(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || len(leaf.UnknownExtKeyUsage) != 0 {
		t.Errorf("ExtKeyUsage = %v %v, want clientAuth only", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %b, want digitalSignature only", leaf.KeyUsage)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Errorf("certificate key is not the CSR's")
	}

	base := strings.TrimSuffix(testPublicURL, "/")
	wantURLs := [][]string{
		{base + "/crl/" + issuing.ID + ".crl"}, {base + "/ocsp/" + issuing.ID}, {base + "/ca/" + issuing.ID + ".crt"},
	}
	if got := [][]string{leaf.CRLDistributionPoints, leaf.OCSPServer, leaf.IssuingCertificateURL}; !reflect.DeepEqual(got, wantURLs) {
		t.Errorf("CRL, OCSP, CA issuer URLs = %q, want %q", got, wantURLs)
	}

	if err := leaf.CheckSignatureFrom(issCert); err != nil {
		t.Errorf("certificate is not signed by the issuing CA: %v", err)
	}
	if !bytes.Equal(leaf.AuthorityKeyId, issCert.SubjectKeyId) || len(leaf.AuthorityKeyId) == 0 {
		t.Errorf("AuthorityKeyId = %x, want the issuing CA's key ID %x", leaf.AuthorityKeyId, issCert.SubjectKeyId)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(rootCert)
	inter.AddCert(issCert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("Verify() error = %v", err)
	}

	if block, rest := pem.Decode(iss.PEM); block == nil || block.Type != "CERTIFICATE" ||
		!bytes.Equal(block.Bytes, c.DER) || len(rest) != 0 {
		t.Errorf("PEM does not hold exactly the certificate")
	}
	var chain [][]byte
	for rest := iss.ChainPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		chain = append(chain, block.Bytes)
	}
	if !reflect.DeepEqual(chain, [][]byte{issuing.DER, root.DER}) {
		t.Errorf("ChainPEM holds %d certificates, want the issuing CA then the root", len(chain))
	}
}

func TestIssueKeyTypes(t *testing.T) {
	t.Parallel()
	e, _, _ := mustInitEnv(t, imprint.KeyECDSAP384)
	for _, kt := range []imprint.KeyType{imprint.KeyECDSAP256, imprint.KeyECDSAP384, imprint.KeyEd25519, imprint.KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			key := mustKey(t, kt)
			csr := mustCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-" + string(kt)}})
			iss := mustIssue(t, e.a, ca.IssueRequest{CSR: csr})
			leaf := mustParseCert(t, iss.Certificate.DER)
			if iss.Certificate.KeyAlgorithm != kt {
				t.Errorf("KeyAlgorithm = %s, want %s", iss.Certificate.KeyAlgorithm, kt)
			}
			type equaler interface{ Equal(crypto.PublicKey) bool }
			if !leaf.PublicKey.(equaler).Equal(key.Public()) {
				t.Errorf("certificate key is not the CSR's")
			}
			want := x509.KeyUsageDigitalSignature
			if _, ok := key.(*rsa.PrivateKey); ok {
				want |= x509.KeyUsageKeyEncipherment
			}
			if leaf.KeyUsage != want {
				t.Errorf("KeyUsage = %b, want %b", leaf.KeyUsage, want)
			}
			if leaf.SignatureAlgorithm != x509.ECDSAWithSHA384 {
				t.Errorf("SignatureAlgorithm = %v, want ECDSA-SHA384 from the P-384 CA", leaf.SignatureAlgorithm)
			}
		})
	}
}

func TestIssueValidity(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	strict := mustCreateCA(t, e.a, "strict", strictProfile)
	long := imprint.DefaultProfile()
	long.ValidityDays = imprint.MaxValidityDays // a century, beyond the CA's ten years
	longCA := mustCreateCA(t, e.a, "long", long)

	tests := []struct {
		name   string
		ca     *imprint.CA
		cn     string
		days   int
		want   time.Duration // before the cap at the CA's NotAfter
		capped bool          // NotAfter is the CA's
	}{
		// A CA's first certificates are capped by seconds: the default
		// profile's ten years are the CA's own.
		{"default profile", issuing, "device-1", 0, imprint.DefaultValidityDays * day, true},
		{"one day", issuing, "device-1", 1, day, false},
		{"all the profile allows", issuing, "device-1", imprint.DefaultValidityDays, imprint.DefaultValidityDays * day, true},
		{"strict profile", strict, "device-0000000a", 0, 365 * day, false},
		{"strict, 30 days", strict, "device-0000000a", 30, 30 * day, false},
		{"profile beyond the CA", longCA, "device-1", 0, imprint.MaxValidityDays * day, true},
		{"request beyond the CA", longCA, "device-1", imprint.MaxValidityDays, imprint.MaxValidityDays * day, true},
		{"request within the CA", longCA, "device-1", 3000, 3000 * day, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			iss := mustIssue(t, e.a, ca.IssueRequest{CSR: mustDeviceCSR(t, tt.cn), CAID: tt.ca.ID, ValidityDays: tt.days})
			leaf, caCert := mustParseCert(t, iss.Certificate.DER), mustParseCert(t, tt.ca.DER)
			wantValidity(t, leaf, caCert, start, tt.want)
			if got := leaf.NotAfter.Equal(caCert.NotAfter); got != tt.capped {
				t.Errorf("NotAfter = %v, CA's = %v, want capped %v", leaf.NotAfter, caCert.NotAfter, tt.capped)
			}
		})
	}
}

// TestIssueIgnoresRequestedExtensions checks that what a CSR asks for beyond
// its subject, SANs and key is not honoured: no CA:TRUE, no key or extended
// key usages, no foreign extension. (A foreign subject attribute is refused:
// see TestIssueBadInput.)
func TestIssueIgnoresRequestedExtensions(t *testing.T) {
	t.Parallel()
	e, _, _ := mustInitEnv(t, imprint.KeyECDSAP256)
	foreign := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}, {1, 3, 6, 1, 5, 5, 7, 3, 3}})
	if err != nil {
		t.Fatal(err)
	}
	csr := mustCSR(t, mustKey(t, imprint.KeyECDSAP256), &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "device-1"},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}, // CA:TRUE
			{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: []byte{0x03, 0x02, 0x01, 0x06}},       // keyCertSign, cRLSign
			{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku},                                                  // serverAuth, codeSigning
			{Id: foreign, Critical: true, Value: []byte{0x05, 0x00}},
		},
	})
	leaf := mustParseCert(t, mustIssue(t, e.a, ca.IssueRequest{CSR: csr}).Certificate.DER)
	if leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		!reflect.DeepEqual(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("IsCA, KeyUsage, ExtKeyUsage = %v, %b, %v, want false, digitalSignature, clientAuth",
			leaf.IsCA, leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(foreign) {
			t.Errorf("the CSR's foreign extension %v was copied", foreign)
		}
	}
}

// TestIssueOpenSSL checks the issued certificate and chain with openssl.
func TestIssueOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := mustOpenSSL(t)
	for _, kt := range []imprint.KeyType{imprint.KeyECDSAP256, imprint.KeyECDSAP384} {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			e, root, issuing := mustInitEnv(t, kt)
			iss := mustIssue(t, e.a, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-1", "device-1.acme.example")})
			dir := t.TempDir()
			write := func(name string, data []byte) string {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			}
			cert, chain := write("cert.pem", iss.PEM), write("chain.pem", iss.ChainPEM)
			rootPEM := write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.DER}))
			issPEM := write("issuing.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuing.DER}))
			run := func(args ...string) (string, error) {
				out, err := exec.Command(openssl, args...).CombinedOutput()
				return string(out), err
			}

			if out, err := run("verify", "-CAfile", chain, cert); err != nil || !strings.Contains(out, "OK") {
				t.Errorf("openssl verify -CAfile chain: %v\n%s", err, out)
			}
			// Only the root trusted, the issuing CA as sent by a device, strict
			// RFC 5280 checks, as a TLS client certificate.
			if out, err := run("verify", "-x509_strict", "-purpose", "sslclient",
				"-CAfile", rootPEM, "-untrusted", issPEM, cert); err != nil || !strings.Contains(out, "OK") {
				t.Errorf("openssl verify -x509_strict -purpose sslclient: %v\n%s", err, out)
			}
			// clientAuth only: not usable as a TLS server certificate.
			if out, err := run("verify", "-purpose", "sslserver", "-CAfile", chain, cert); err == nil {
				t.Errorf("openssl verify -purpose sslserver succeeded, want a refusal:\n%s", out)
			}

			text, err := run("x509", "-in", cert, "-noout", "-text")
			if err != nil {
				t.Fatalf("openssl x509: %v\n%s", err, text)
			}
			base := strings.TrimSuffix(testPublicURL, "/")
			for _, want := range []string{
				"CA:FALSE", "TLS Web Client Authentication", "Digital Signature",
				"URI:" + base + "/crl/" + issuing.ID + ".crl",
				"OCSP - URI:" + base + "/ocsp/" + issuing.ID,
				"CA Issuers - URI:" + base + "/ca/" + issuing.ID + ".crt",
				"DNS:device-1.acme.example",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("openssl x509 -text lacks %q:\n%s", want, text)
				}
			}
		})
	}
}
