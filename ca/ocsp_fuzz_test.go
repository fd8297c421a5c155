package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// FuzzParseOCSPRequest feeds arbitrary bytes to the OCSP request parser, the
// first thing to touch the bodies of public, unauthenticated requests: it
// must never panic, and what it accepts must be encodable into a response.
func FuzzParseOCSPRequest(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	issuer, _ := x509.ParseCertificate(der)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(0x1234567890)}
	for _, h := range []ocsp.RequestOptions{{}, {Hash: 5 /* SHA-256 */}} {
		req, err := ocsp.CreateRequest(leaf, issuer, &h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req)
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x30})
	f.Add([]byte("hello"))
	signer, err := newOCSPSigner(issuer, key, true)
	if err != nil {
		f.Fatal(err)
	}
	hashes, err := newIssuerHashes(issuer)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseOCSPRequest(data)
		if err != nil {
			if err != errMalformedOCSP {
				t.Fatalf("error %v, want errMalformedOCSP", err)
			}
			return
		}
		if len(req.certs) == 0 || len(req.certs) > MaxOCSPRequests {
			t.Fatalf("accepted %d CertIDs", len(req.certs))
		}
		for _, id := range req.certs {
			hashes.matches(id)
		}
		now := time.Now().UTC().Truncate(time.Second)
		if _, err := encodeOCSPResponse(signer, req.certs, make([]ocspStatus, len(req.certs)), req.nonce, now, now.Add(time.Hour)); err != nil {
			t.Fatalf("encode a response to an accepted request: %v", err)
		}
	})
}
