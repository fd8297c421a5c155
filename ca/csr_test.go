package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

func TestIssueBadInput(t *testing.T) {
	t.Parallel()
	e, root, _ := mustInitEnv(t, imprint.KeyECDSAP256)
	strict := mustCreateCA(t, e.a, "strict", strictProfile)

	p256 := mustKey(t, imprint.KeyECDSAP256)
	csrWith := func(key crypto.Signer, cn string, edit func(*x509.CertificateRequest)) []byte {
		tpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
		if edit != nil {
			edit(tpl)
		}
		return mustCSRPEM(t, key, tpl)
	}
	valid := mustCSRDER(t, p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-1"}})
	tampered := bytes.Clone(valid)
	tampered[len(tampered)-1] ^= 0x01 // the last byte of the signature
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Made with: openssl dsaparam -genkey -out dsa.key 2048 &&
	// openssl req -new -key dsa.key -subj /CN=dsa-device -sha256 -out dsa-2048.csr
	// (Go's x509 cannot create DSA CSRs but still parses them.)
	dsaCSR, err := os.ReadFile("testdata/dsa-2048.csr")
	if err != nil {
		t.Fatal(err)
	}
	ip := func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.IPv4(192, 0, 2, 1)} }
	manyDNS := func(r *x509.CertificateRequest) {
		for i := range ca.MaxSANs + 1 {
			r.DNSNames = append(r.DNSNames, "d"+strings.Repeat("x", i)+".example")
		}
	}

	tests := []struct {
		name string
		csr  []byte
		ca   string // the CA to issue from: "" (the default), "strict", "root" or an ID
		days int
		kind imprint.Kind
		msg  string
	}{
		{"empty", nil, "", 0, imprint.Invalid, "csr is empty"},
		{"garbage", []byte("hello"), "", 0, imprint.Invalid, "not a PEM CERTIFICATE REQUEST"},
		{"malformed PEM", []byte("-----BEGIN CERTIFICATE REQUEST-----\n!!not base64!!\n-----END CERTIFICATE REQUEST-----\n"),
			"", 0, imprint.Invalid, "not a PEM CERTIFICATE REQUEST"},
		{"truncated PEM", csrPEM(valid)[:200], "", 0, imprint.Invalid, "not a PEM CERTIFICATE REQUEST"},
		{"PEM of garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}}),
			"", 0, imprint.Invalid, "csr is malformed"},
		{"truncated DER", valid[:len(valid)/2], "", 0, imprint.Invalid, "csr is malformed"},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.DER}),
			"", 0, imprint.Invalid, `PEM block is "CERTIFICATE"`},
		{"private key PEM", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0}}),
			"", 0, imprint.Invalid, `PEM block is "PRIVATE KEY"`},
		{"two PEM blocks", append(csrPEM(valid), csrPEM(valid)...), "", 0, imprint.Invalid, "more than one PEM block"},
		{"certificate as DER", root.DER, "", 0, imprint.Invalid, "csr is malformed"},
		{"too large", bytes.Repeat([]byte{0x30}, ca.MaxCSRSize+1), "", 0, imprint.TooLarge, "larger than"},
		{"bad signature", csrPEM(tampered), "", 0, imprint.Invalid, "signature does not verify"},
		{"bad signature, DER", tampered, "", 0, imprint.Invalid, "signature does not verify"},
		{"RSA-1024", csrWith(rsa1024, "device-1", nil), "", 0, imprint.Invalid, "RSA key of 1024 bits is too small"},
		{"P-224", csrWith(p224, "device-1", nil), "", 0, imprint.Invalid, "ECDSA curve P-224 is not accepted"},
		{"DSA", dsaCSR, "", 0, imprint.Invalid, "dsa.PublicKey is not accepted"},
		{"no common name", csrWith(p256, "", nil), "", 0, imprint.Invalid, "no subject common name"},
		{"common name too long", csrWith(p256, strings.Repeat("a", imprint.MaxCommonNameLength+1), nil),
			"", 0, imprint.Invalid, "longer than 64"},
		{"control character in common name", csrWith(p256, "device\n1", nil), "", 0, imprint.Invalid, "control characters"},
		{"bidi override in common name", csrWith(p256, "device-\u202e1", nil), "", 0, imprint.Invalid, "bidirectional"},
		{"right-to-left mark in common name", csrWith(p256, "\u200fdevice-1", nil), "", 0, imprint.Invalid, "bidirectional"},
		{"bidi isolate in organization", csrWith(p256, "device-1", func(r *x509.CertificateRequest) {
			r.Subject.Organization = []string{"Acme\u2068"}
		}), "", 0, imprint.Invalid, "subject attribute O holds"},
		{"ECDSA with SHA-1", csrWith(p256, "device-1", func(r *x509.CertificateRequest) { r.SignatureAlgorithm = x509.ECDSAWithSHA1 }),
			"", 0, imprint.Invalid, "signed with ECDSA-SHA1"},
		{"RSA with SHA-1", csrWith(mustKey(t, imprint.KeyRSA2048), "device-1", func(r *x509.CertificateRequest) {
			r.SignatureAlgorithm = x509.SHA1WithRSA
		}), "", 0, imprint.Invalid, "signed with SHA1-RSA"},
		{"common name off pattern", csrWith(p256, "sensor-1", nil), "strict", 0, imprint.Forbidden, "does not match the pattern"},
		{"pattern matches a part only", csrWith(p256, "device-0000000a-admin", nil),
			"strict", 0, imprint.Forbidden, "does not match the pattern"},
		{"key type off profile", csrWith(mustKey(t, imprint.KeyECDSAP384), "device-0000000a", nil),
			"strict", 0, imprint.Invalid, "key type EC-P384 is not allowed by CA strict"},
		{"foreign subject attribute", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-1"),
			atv(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, "admin"))),
			"", 0, imprint.Forbidden, "csr subject attribute 1.3.6.1.4.1.55555.1 is not allowed by CA"},
		{"userId subject attribute", csrWith(p256, "", withRDNs(t, []pkix.AttributeTypeAndValue{
			{Type: oidCN, Value: "device-1"}, {Type: oidUID, Value: "u1"}})),
			"", 0, imprint.Forbidden, "csr subject attribute 0.9.2342.19200300.100.1.1 is not allowed"},
		{"subject attribute not a string", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-1"), atv(oidO, 7))),
			"", 0, imprint.Invalid, "csr subject attribute O (2.5.4.10) is not a string"},
		{"empty subject attribute", csrWith(p256, "", withRDNs(t, atv(oidO, ""), atv(oidCN, "device-1"))),
			"", 0, imprint.Invalid, "csr subject attribute O is empty"},
		{"control character in subject attribute", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-1"),
			atv(asn1.ObjectIdentifier{2, 5, 4, 12}, "t\x1b"))), "", 0, imprint.Invalid, "attribute title holds control characters"},
		{"empty common name among others", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-1"), atv(oidCN, ""))),
			"", 0, imprint.Invalid, "no subject common name"},
		{"second common name off pattern", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-0000000a"), atv(oidCN, "admin"))),
			"strict", 0, imprint.Forbidden, `common name "admin" does not match the pattern`},
		{"common name off pattern in a multi-valued RDN", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-0000000a"),
			[]pkix.AttributeTypeAndValue{{Type: oidO, Value: "Acme"}, {Type: oidCN, Value: "admin"}})),
			"strict", 0, imprint.Forbidden, `common name "admin" does not match the pattern`},
		{"second common name too long", csrWith(p256, "", withRDNs(t, atv(oidCN, "device-1"),
			atv(oidCN, strings.Repeat("a", imprint.MaxCommonNameLength+1)))), "", 0, imprint.Invalid, "longer than 64"},
		{"IP SAN", csrWith(p256, "device-1", ip), "", 0, imprint.Invalid, "csr has ip SANs"},
		{"email SAN", csrWith(p256, "device-1", func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@b.example"} }),
			"", 0, imprint.Invalid, "csr has email SANs"},
		{"URI SAN off profile", csrWith(p256, "device-0000000a", func(r *x509.CertificateRequest) {
			r.URIs = []*url.URL{{Scheme: "urn", Opaque: "device:1"}}
		}), "strict", 0, imprint.Invalid, "csr has uri SANs"},
		{"too many SANs", csrWith(p256, "device-1", manyDNS), "", 0, imprint.Invalid, "more than 32"},
		{"validityDays above the profile", csrPEM(valid), "", imprint.DefaultValidityDays + 1,
			imprint.Invalid, "validityDays must be between 1 and 3650"},
		{"validityDays above the strict profile", csrWith(p256, "device-0000000a", nil), "strict", 366,
			imprint.Invalid, "validityDays must be between 1 and 365"},
		{"negative validityDays", csrPEM(valid), "", -1, imprint.Invalid, "validityDays must be between"},
		{"unknown CA", csrPEM(valid), strings.Repeat("ab", 32), 0, imprint.NotFound, "not found"},
		{"the root", csrPEM(valid), "root", 0, imprint.Invalid, "is the root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caID := tt.ca
			switch caID {
			case "strict":
				caID = strict.ID
			case "root":
				caID = root.ID
			}
			csr, err := ca.ParseCSR(tt.csr)
			if err == nil {
				_, err = e.a.Issue(context.Background(), ca.IssueRequest{CSR: csr, CAID: caID, ValidityDays: tt.days})
			}
			wantError(t, err, tt.kind, tt.msg)
		})
	}

	t.Run("nil CSR", func(t *testing.T) {
		_, err := e.a.Issue(context.Background(), ca.IssueRequest{})
		wantError(t, err, imprint.Invalid, "csr is required")
	})
}

func TestParseCSR(t *testing.T) {
	t.Parallel()
	key := mustKey(t, imprint.KeyEd25519)
	der := mustCSRDER(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-1"}})
	tests := []struct {
		name string
		data []byte
	}{
		{"PEM", csrPEM(der)},
		{"DER", der},
		{"NEW CERTIFICATE REQUEST", pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der})},
		{"PEM with text around", append(append([]byte("Subject: device-1\n"), csrPEM(der)...), "\n\n"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := ca.ParseCSR(tt.data)
			if err != nil {
				t.Fatalf("ParseCSR() error = %v", err)
			}
			if !bytes.Equal(csr.Raw, der) || csr.Subject.CommonName != "device-1" {
				t.Errorf("ParseCSR() = CSR for %q, want device-1", csr.Subject.CommonName)
			}
			if kt, err := ca.KeyTypeOf(csr.PublicKey); err != nil || kt != imprint.KeyEd25519 || !key.Public().(ed25519.PublicKey).Equal(csr.PublicKey) {
				t.Errorf("KeyTypeOf() = %s, %v, want Ed25519", kt, err)
			}
		})
	}
}
