package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
)

// FuzzParseCSR feeds arbitrary bytes to the CSR intake: ParseCSR, then for
// what parses, KeyTypeOf and the profile checks of two issuing CAs, then the
// device certificate the profile makes, signed. It must never panic; every
// refusal must be Invalid (or TooLarge, or Forbidden for a subject attribute
// type) with a message; and a CSR the checks accept must make a certificate
// with the CSR's subject, byte for byte. The CSR's signature is not checked
// here, so that mutations reach the checks and the signing (Issue checks it
// first).
// The seed corpus is below and in testdata/fuzz/FuzzParseCSR.
func FuzzParseCSR(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "device-00c0ffee"}, DNSNames: []string{"device-00c0ffee.acme.example"},
	}, key)
	if err != nil {
		f.Fatal(err)
	}
	pemCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	f.Add(pemCSR)
	f.Add(der)
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Add(pemCSR[:len(pemCSR)/2])
	f.Add(der[:len(der)-10])
	for _, name := range []string{"dsa-2048.csr", "rich-subject.csr"} {
		if seed, err := os.ReadFile("testdata/" + name); err == nil {
			f.Add(seed)
		}
	}

	issuers := fuzzIssuers(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			wantRefusal(t, "ParseCSR", err, imprint.Invalid, imprint.TooLarge)
			if csr != nil {
				t.Fatalf("ParseCSR() = %v, %v: a CSR with an error", csr, err)
			}
			return
		}
		if csr == nil {
			t.Fatal("ParseCSR() = nil, nil")
		}
		if kt, err := KeyTypeOf(csr.PublicKey); err != nil {
			wantRefusal(t, "KeyTypeOf", err, imprint.Invalid)
		} else if !kt.Valid() {
			t.Fatalf("KeyTypeOf() = %q, not a known key type", kt)
		}
		_ = Subject(csr)
		for _, iss := range issuers {
			kt, cn, err := checkCSR(iss, csr)
			if err != nil {
				wantRefusal(t, "checkCSR", err, imprint.Invalid, imprint.Forbidden)
				continue
			}
			if !kt.Valid() || cn == "" {
				t.Fatalf("checkCSR() = %q, %q: not a known key type, or no common name", kt, cn)
			}
			fuzzSign(t, iss, csr)
		}
	})
}

// fuzzSign makes and signs the certificate iss's profile makes from csr, as
// Issue does past the CSR's signature check.
func fuzzSign(t *testing.T, iss *issuer, csr *x509.CertificateRequest) {
	now := time.Now().UTC().Truncate(time.Second)
	tpl := leafTemplate(iss, csr, now.Add(-time.Minute), now.Add(time.Hour))
	der, err := x509.CreateCertificate(rand.Reader, tpl, iss.cert, csr.PublicKey, iss.signer)
	if err != nil {
		t.Fatalf("CSR accepted by CA %s cannot be signed: %v", iss.ca.Name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("signed certificate does not parse: %v", err)
	}
	if leaf.IsCA || !bytes.Equal(leaf.RawSubject, csr.RawSubject) || len(sanList(leaf)) > MaxSANs {
		t.Fatalf("certificate IsCA %v, subject %x, %d SANs from CSR subject %x", leaf.IsCA, leaf.RawSubject,
			len(sanList(leaf)), csr.RawSubject)
	}
}

func wantRefusal(t *testing.T, op string, err error, kinds ...imprint.Kind) {
	t.Helper()
	k := imprint.ErrorKind(err)
	for _, want := range kinds {
		if k == want {
			if imprint.ErrorMessage(err) == "" {
				t.Fatalf("%s() error %v has no message", op, err)
			}
			return
		}
	}
	t.Fatalf("%s() error kind = %v, want one of %v (error: %v)", op, k, kinds, err)
}

// fuzzIssuers returns two issuing CAs held in memory, without a store: one
// with the default profile, one strict.
func fuzzIssuers(tb testing.TB) []*issuer {
	tb.Helper()
	strict := imprint.IssuanceProfile{
		ValidityDays: 365, KeyTypes: []imprint.KeyType{imprint.KeyECDSAP256, imprint.KeyEd25519},
		CommonNamePattern: `device-[0-9a-f]{8}`, SANTypes: []string{imprint.SANDNS, imprint.SANIP},
	}
	return []*issuer{
		fuzzIssuer(tb, "default", imprint.DefaultProfile()),
		fuzzIssuer(tb, "strict", strict),
	}
}

func fuzzIssuer(tb testing.TB, name string, p imprint.IssuanceProfile) *issuer {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tpl := caTemplate(pkix.Name{CommonName: "Fuzz " + name + " CA"}, IssuingValidity, 0)
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	cnRE, err := p.CommonNameRegexp()
	if err != nil {
		tb.Fatal(err)
	}
	id := certificateID(der)
	return &issuer{
		ca:     &imprint.CA{ID: id, Name: name, Role: imprint.CAIssuing, Status: imprint.CAActive, Profile: p, DER: der},
		cert:   cert,
		signer: crypto.Signer(key),
		cnRE:   cnRE,
		urls: issuerURLs{
			crl: "https://imprint.example.com/crl/" + id + ".crl", ocsp: "https://imprint.example.com/ocsp/" + id,
			caIssuer: "https://imprint.example.com/ca/" + id + ".crt",
		},
	}
}
