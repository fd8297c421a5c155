package ca_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// TestOCSPSignerRotation checks that the responder makes a delegated signer
// (OCSP signing, no-check) and replaces it once a third of its life is left.
func TestOCSPSignerRotation(t *testing.T) {
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	r := ca.NewOCSPResponder(e.a, e.db, ca.OCSPOptions{SignerValidity: 3 * time.Second}, discardLog())
	iss := mustIssue(t, e.a, ca.IssueRequest{CSR: mustDeviceCSR(t, "rot-1")})
	if err := e.db.CreateCertificates(context.Background(), []imprint.Certificate{iss.Certificate}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	leaf := mustParseCert(t, iss.Certificate.DER)
	issuer := mustParseCert(t, issuing.DER)
	signerOf := func() *x509.Certificate {
		t.Helper()
		req, _ := ocsp.CreateRequest(leaf, issuer, nil)
		der, _ := r.Respond(context.Background(), issuing.ID, req)
		resp, err := ocsp.ParseResponseForCert(der, leaf, issuer)
		if err != nil || resp.Status != ocsp.Good || resp.Certificate == nil {
			t.Fatalf("response = %+v, %v; want good, with the signer", resp, err)
		}
		if len(resp.Certificate.ExtKeyUsage) != 1 || resp.Certificate.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
			t.Fatalf("signer EKU = %v, want OCSP signing only", resp.Certificate.ExtKeyUsage)
		}
		return resp.Certificate
	}
	first := signerOf()
	if again := signerOf(); !again.Equal(first) {
		t.Fatal("the signer changed while two thirds of its life were left")
	}
	time.Sleep(2100 * time.Millisecond)
	r.Invalidate("", "") // drop kept responses, so the next one is signed anew
	if next := signerOf(); next.Equal(first) {
		t.Error("the signer was not replaced with a third of its life left")
	}
}
