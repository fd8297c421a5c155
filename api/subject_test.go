package api_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"
)

// subjectCSRPEM returns a CSR whose subject is rdns, encoded as given.
func subjectCSRPEM(t *testing.T, key crypto.Signer, rdns ...pkix.AttributeTypeAndValue) string {
	t.Helper()
	seq := make(pkix.RDNSequence, len(rdns))
	for i, atv := range rdns {
		seq[i] = []pkix.AttributeTypeAndValue{atv}
	}
	raw, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: raw}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestSubjectKept issues and renews a certificate whose subject is in
// another order than pkix.Name writes and holds an attribute it has no
// field for, and is refused a subject attribute the CA does not accept.
func TestSubjectKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cn := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "dev-1"}
	cn2 := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "dev-1-alias"}
	o := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme"}
	title := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 12}, Value: "lamp"}

	key := p256(t) // renewals keep the key: a factory token proves it by the CSR's signature
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": subjectCSRPEM(t, key, cn, cn2, o, title)})
	var old issued
	r.json(t, &old)
	if r.status != 201 {
		t.Fatalf("issue = %d %s", r.status, r.body)
	}
	var got struct{ Subject, CommonName string }
	e.do("GET", "/v1/certificates/"+old.CertificateID, e.admin, nil).json(t, &got)
	if want := "title=lamp,O=Acme,CN=dev-1-alias,CN=dev-1"; got.Subject != want || got.CommonName != "dev-1" {
		t.Errorf("subject, commonName = %q, %q, want %q, dev-1", got.Subject, got.CommonName, want)
	}

	r = e.do("POST", "/v1/certificates/"+old.CertificateID+"/renew", e.factory,
		map[string]string{"csr": subjectCSRPEM(t, key, cn, cn2, o)})
	if code, msg := r.errorCode(t); r.status != 400 || code != "invalid" || !strings.Contains(msg, "is not the certificate's") {
		t.Errorf("renew without the title = %d %s, want 400", r.status, r.body)
	}
	r = e.do("POST", "/v1/certificates/"+old.CertificateID+"/renew", e.factory,
		map[string]string{"csr": subjectCSRPEM(t, key, cn, cn2, o, title)})
	if r.status != 201 {
		t.Errorf("renew with the same subject = %d %s, want 201", r.status, r.body)
	}

	uid := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "u1"}
	r = e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": subjectCSRPEM(t, p256(t), cn, uid)})
	if code, msg := r.errorCode(t); r.status != 403 || code != "forbidden" ||
		!strings.Contains(msg, "csr subject attribute 0.9.2342.19200300.100.1.1 is not allowed") {
		t.Errorf("issue with a userId attribute = %d %s, want 403 naming the OID", r.status, r.body)
	}
}
