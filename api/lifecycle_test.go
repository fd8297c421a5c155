package api_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// issueOne issues a certificate for cn and returns the response.
func (e *env) issueOne(cn string) issued {
	e.t.Helper()
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(e.t, p256(e.t), cn)})
	if r.status != 201 {
		e.t.Fatalf("issue %s = %d %s", cn, r.status, r.body)
	}
	var got issued
	r.json(e.t, &got)
	return got
}

// files writes a certificate and its issuer for openssl, and returns paths.
func (e *env) files(c issued) (cert, issuer, chain string) {
	dir := e.t.TempDir()
	cert, issuer, chain = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "issuer.pem"), filepath.Join(dir, "chain.pem")
	os.WriteFile(cert, []byte(c.CertificatePEM), 0o600)
	os.WriteFile(chain, []byte(c.ChainPEM), 0o600)
	first, _ := pem.Decode([]byte(c.ChainPEM))
	os.WriteFile(issuer, pem.EncodeToMemory(first), 0o600)
	return cert, issuer, chain
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required when CI is set")
		}
		t.Skip("openssl not installed (CI unset)")
	}
}

// opensslOCSP asks the responder with `openssl ocsp` and returns its output,
// failing unless openssl verified the response against the chain.
func (e *env) opensslOCSP(c issued) string {
	e.t.Helper()
	cert, issuer, chain := e.files(c)
	out, err := exec.Command("openssl", "ocsp", "-issuer", issuer, "-cert", cert, "-CAfile", chain,
		"-url", e.url+"/ocsp/"+c.CAID).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Response verify OK") {
		e.t.Fatalf("openssl ocsp: %v\n%s", err, out)
	}
	return string(out)
}

func TestRevokeAndOCSP(t *testing.T) {
	t.Parallel()
	needOpenSSL(t)
	e := newEnv(t)
	c := e.issueOne("ocsp-1")
	if out := e.opensslOCSP(c); !strings.Contains(out, ": good") || strings.Contains(out, "nonce") {
		t.Fatalf("before revocation openssl ocsp says (its nonce must be echoed):\n%s", out)
	}
	r := e.do("POST", "/v1/certificates/"+c.CertificateID+"/revoke", e.admin, map[string]string{"reason": "keyCompromise"})
	var got struct {
		Status     string
		Revocation struct{ Reason, RevokedBy string }
	}
	r.json(t, &got)
	if r.status != 200 || got.Status != "REVOKED" || got.Revocation.Reason != "keyCompromise" || got.Revocation.RevokedBy != "admin" {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	// Right after the call, with no wait: the revoke transaction is the moment.
	if out := e.opensslOCSP(c); !strings.Contains(out, ": revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("after revocation openssl ocsp says:\n%s", out)
	}
	if r := e.do("POST", "/v1/certificates/"+c.CertificateID+"/revoke", e.admin, map[string]string{}); r.status != 409 {
		t.Errorf("revoke twice = %d %s, want 409", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.revoked' AND resource_id = '` + c.CertificateID + `'`); n != 1 {
		t.Errorf("revocation events = %d, want 1", n)
	}
}

func TestLifecycleRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.issueOne("life-1")
	path := "/v1/certificates/" + c.CertificateID
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		msg                       string
	}{
		{"bad reason", "POST", path + "/revoke", e.admin, map[string]string{"reason": "lostIt"}, 400, "keyCompromise"},
		{"hold is not a reason", "POST", path + "/revoke", e.admin, map[string]string{"reason": "certificateHold"}, 400, "reason"},
		{"unknown certificate", "POST", "/v1/certificates/" + strings.Repeat("0", 64) + "/revoke", e.admin, map[string]string{}, 404, "not found"},
		{"factory revokes", "POST", path + "/revoke", e.factory, map[string]string{}, 403, "role"},
		{"bad status", "PATCH", path, e.admin, map[string]string{"status": "REVOKED"}, 400, "ACTIVE or INACTIVE"},
		{"pending is not settable", "PATCH", path, e.admin, map[string]string{"status": "PENDING_ACTIVATION"}, 400, "ACTIVE or INACTIVE"},
		{"suspend", "PATCH", path, e.admin, map[string]string{"status": "INACTIVE"}, 200, ""},
		{"resume", "PATCH", path, e.admin, map[string]string{"status": "active"}, 200, ""},
		{"revoke", "POST", path + "/revoke", e.admin, map[string]string{"reason": "cessationOfOperation"}, 200, ""},
		{"reactivate revoked", "PATCH", path, e.admin, map[string]string{"status": "ACTIVE"}, 409, "REVOKED"},
		{"renew revoked", "POST", path + "/renew", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "life-1")}, 409, "REVOKED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do := e.do
			if tt.status == http.StatusBadRequest {
				do = e.doInvalid // bad on purpose
			}
			r := do(tt.method, tt.path, tt.token, tt.body)
			_, msg := r.errorCode(t)
			if r.status != tt.status || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s %s = %d %s, want %d containing %q", tt.method, tt.path, r.status, r.body, tt.status, tt.msg)
			}
		})
	}
	types := e.count(`SELECT count(DISTINCT type) FROM audit_events WHERE resource_id = '` + c.CertificateID + `'`)
	if types != 4 { // issued, deactivated, activated, revoked
		t.Errorf("distinct event types for the certificate = %d, want 4", types)
	}
}

// TestSuspensionIsCertificateHold checks that INACTIVE shows in OCSP and on
// CRLs as certificateHold, and that reactivation clears it.
func TestSuspensionIsCertificateHold(t *testing.T) {
	t.Parallel()
	needOpenSSL(t)
	e := newEnv(t)
	c := e.issueOne("hold-1")
	e.do("PATCH", "/v1/certificates/"+c.CertificateID, e.admin, map[string]string{"status": "INACTIVE"})
	if out := e.opensslOCSP(c); !strings.Contains(out, ": revoked") || !strings.Contains(out, "certificateHold") {
		t.Fatalf("suspended: openssl ocsp says:\n%s", out)
	}
	crl := e.waitCRL(c.CAID, func(l *x509.RevocationList) bool { return len(l.RevokedCertificateEntries) == 1 })
	if crl.RevokedCertificateEntries[0].ReasonCode != 6 {
		t.Errorf("CRL entry reason = %d, want 6 (certificateHold)", crl.RevokedCertificateEntries[0].ReasonCode)
	}
	e.do("PATCH", "/v1/certificates/"+c.CertificateID, e.admin, map[string]string{"status": "ACTIVE"})
	if out := e.opensslOCSP(c); !strings.Contains(out, ": good") {
		t.Fatalf("reactivated: openssl ocsp says:\n%s", out)
	}
	e.waitCRL(c.CAID, func(l *x509.RevocationList) bool { return len(l.RevokedCertificateEntries) == 0 })
}

// waitCRL fetches the CA's CRL until ok accepts it (the publisher rebuilds
// within a second of a change), and checks its signature.
func (e *env) waitCRL(caID string, ok func(*x509.RevocationList) bool) *x509.RevocationList {
	e.t.Helper()
	issuer := e.caCert(caID)
	var l *x509.RevocationList
	waitFor(e.t, 5*time.Second, func() (bool, string) {
		r := e.do("GET", "/crl/"+caID+".crl", "", nil)
		if r.status != 200 {
			return false, fmt.Sprintf("the CRL of %s: %d %s", caID, r.status, r.body)
		}
		var err error
		if l, err = x509.ParseRevocationList(r.body); err != nil {
			e.t.Fatalf("parse CRL: %v", err)
		}
		if err := l.CheckSignatureFrom(issuer); err != nil {
			e.t.Fatalf("CRL signature: %v", err)
		}
		return ok(l), fmt.Sprintf("the CRL of %s (number %v, %d entries) does not show the change", caID, l.Number, len(l.RevokedCertificateEntries))
	})
	return l
}

func (e *env) caCert(caID string) *x509.Certificate {
	e.t.Helper()
	r := e.do("GET", "/ca/"+caID+".crt", "", nil)
	cert, err := x509.ParseCertificate(r.body)
	if err != nil {
		e.t.Fatalf("CA certificate: %v", err)
	}
	return cert
}

func TestCRLWithOpenSSL(t *testing.T) {
	t.Parallel()
	needOpenSSL(t)
	e := newEnv(t)
	keep, gone := e.issueOne("crl-keep"), e.issueOne("crl-gone")
	cert, _, chain := e.files(gone)
	dir := t.TempDir()
	fetch := func(path, name string) string {
		r := e.do("GET", path, "", nil)
		if r.status != 200 {
			t.Fatalf("GET %s = %d %s", path, r.status, r.body)
		}
		file := filepath.Join(dir, name)
		os.WriteFile(file, r.body, 0o600)
		return file
	}
	e.waitCRL(gone.CAID, func(*x509.RevocationList) bool { return true })
	before := fetch("/crl/"+gone.CAID+".pem", "before.pem")
	openssl := func(args ...string) (string, error) {
		out, err := exec.Command("openssl", args...).CombinedOutput()
		return string(out), err
	}
	if out, err := openssl("crl", "-in", before, "-CAfile", chain, "-noout"); err != nil || !strings.Contains(out, "verify OK") {
		t.Fatalf("openssl crl -verify: %v %s", err, out)
	}
	if out, err := openssl("verify", "-crl_check", "-CAfile", chain, "-CRLfile", before, cert); err != nil {
		t.Fatalf("before revocation, openssl verify -crl_check refused: %v %s", err, out)
	}
	e.do("POST", "/v1/certificates/"+gone.CertificateID+"/revoke", e.admin, map[string]string{"reason": "affiliationChanged"})
	full := e.waitCRL(gone.CAID, func(l *x509.RevocationList) bool { return len(l.RevokedCertificateEntries) == 1 })
	after := fetch("/crl/"+gone.CAID+".pem", "after.pem")
	if out, err := openssl("verify", "-crl_check", "-CAfile", chain, "-CRLfile", after, cert); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("after revocation, openssl verify -crl_check accepted: %s", out)
	}
	// The delta CRL against the earlier full CRL says the same.
	delta := fetch("/crl/"+gone.CAID+"/delta.pem", "delta.pem")
	if out, err := openssl("verify", "-crl_check", "-use_deltas", "-CAfile", chain, "-CRLfile", before, "-CRLfile", delta, cert); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("with the delta CRL, openssl verify accepted: %s", out)
	}
	keepCert, _, _ := e.files(keep)
	if out, err := openssl("verify", "-crl_check", "-use_deltas", "-CAfile", chain, "-CRLfile", before, "-CRLfile", delta, keepCert); err != nil {
		t.Fatalf("with the delta CRL, openssl verify refused an unrevoked certificate: %s", out)
	}
	// The certificate's CRL distribution point is this CRL (under the public URL).
	block, _ := pem.Decode([]byte(gone.CertificatePEM))
	x, _ := x509.ParseCertificate(block.Bytes)
	if len(x.CRLDistributionPoints) != 1 || !strings.HasSuffix(x.CRLDistributionPoints[0], "/crl/"+gone.CAID+".crl") {
		t.Errorf("CRL distribution points = %v", x.CRLDistributionPoints)
	}
	// Caching: the ETag answers 304.
	r := e.do("GET", "/crl/"+gone.CAID+".crl", "", nil)
	etag := r.header.Get("ETag")
	if etag == "" || !strings.Contains(r.header.Get("Cache-Control"), "max-age=") || r.header.Get("Content-Type") != "application/pkix-crl" {
		t.Errorf("CRL headers = %v", r.header)
	}
	if r := e.do("GET", "/crl/"+gone.CAID+".crl", "", nil, "If-None-Match", etag); r.status != http.StatusNotModified {
		t.Errorf("GET with If-None-Match = %d, want 304", r.status)
	}
	if full.Number.Int64() < 2 {
		t.Errorf("CRL number = %d, want at least 2 after a rebuild", full.Number)
	}
	for _, bad := range []string{"/crl/nope.crl", "/crl/" + strings.Repeat("a", 64) + ".crl", "/crl/" + gone.CAID + ".txt", "/crl/" + gone.CAID + "/full.crl"} {
		if r := e.doInvalid("GET", bad, "", nil); r.status != 404 && r.status != 400 {
			t.Errorf("GET %s = %d, want 404 or 400", bad, r.status)
		}
	}
}

func TestOCSPRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.issueOne("ocsp-get")
	block, _ := pem.Decode([]byte(c.CertificatePEM))
	cert, _ := x509.ParseCertificate(block.Bytes)
	issuer := e.caCert(c.CAID)
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (*ocsp.Response, http.Header) {
		r := e.do("GET", "/ocsp/"+c.CAID+"/"+base64.StdEncoding.EncodeToString(req), "", nil)
		resp, err := ocsp.ParseResponseForCert(r.body, cert, issuer)
		if err != nil {
			t.Fatalf("GET answer: %v", err)
		}
		return resp, r.header
	}
	resp, h := get()
	if resp.Status != ocsp.Good || !strings.Contains(h.Get("Cache-Control"), "max-age=60") {
		t.Fatalf("GET = status %d, Cache-Control %q; want good, cacheable", resp.Status, h.Get("Cache-Control"))
	}
	if resp.Certificate == nil || !hasOCSPSigning(resp.Certificate) {
		t.Errorf("the response is not signed by a delegated OCSP signer: %+v", resp.Certificate)
	}
	e.do("POST", "/v1/certificates/"+c.CertificateID+"/revoke", e.admin, map[string]string{"reason": "superseded"})
	if resp, _ := get(); resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.Superseded {
		t.Fatalf("GET after revocation = status %d reason %d, want revoked, superseded", resp.Status, resp.RevocationReason)
	}
	// A serial the CA never issued is unknown.
	stranger := &x509.Certificate{SerialNumber: new(big.Int).Lsh(cert.SerialNumber, 1)}
	unknownReq, _ := ocsp.CreateRequest(stranger, issuer, &ocsp.RequestOptions{})
	r := e.do("POST", "/ocsp/"+c.CAID, "", unknownReq, "Content-Type", "application/ocsp-request")
	if resp, err := ocsp.ParseResponse(r.body, issuer); err != nil || resp.Status != ocsp.Unknown {
		t.Errorf("POST about an unknown serial = %v, %v; want unknown", resp, err)
	}
	malformed := []struct {
		name, method, path string
		body               string
		want               byte
	}{
		{"garbage POST", "POST", "/ocsp/" + c.CAID, "hello", 1},
		{"empty POST", "POST", "/ocsp/" + c.CAID, "", 1},
		{"garbage after /ocsp/", "GET", "/ocsp/" + c.CAID + "/not*base64/../x", "", 1},
		{"not our CA", "POST", "/ocsp/" + strings.Repeat("ab", 32), string(req), 6},
		{"junk CA", "GET", "/ocsp/zzz/" + base64.StdEncoding.EncodeToString(req), "", 6},
	}
	for _, m := range malformed {
		t.Run(m.name, func(t *testing.T) {
			r := e.doInvalid(m.method, m.path, "", m.body, "Content-Type", "application/ocsp-request")
			// An unsuccessful OCSPResponse is SEQUENCE { ENUMERATED status }.
			if r.status != 200 || len(r.body) != 5 || r.body[4] != m.want {
				t.Errorf("%s %s = %d %x, want 200 with OCSP status %d", m.method, m.path, r.status, r.body, m.want)
			}
		})
	}
}

func hasOCSPSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			return true
		}
	}
	return false
}
