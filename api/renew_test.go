package api_test

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/ca"
)

// renewalProof is what the API documentation tells a client to sign, signed
// by the real openssl with key, base64-encoded.
func renewalProof(t *testing.T, key crypto.Signer, certificateID, csr string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required when CI is set")
		}
		t.Skip("openssl not installed (CI unset)")
	}
	block, _ := pem.Decode([]byte(csr))
	sum := sha256.Sum256(block.Bytes)
	msg := "imprint-renewal-v1\n" + certificateID + "\n" + hex.EncodeToString(sum[:]) + "\n"
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, msgFile, sigFile := filepath.Join(dir, "old.key"), filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
	os.WriteFile(keyFile, keyPEM, 0o600)
	os.WriteFile(msgFile, []byte(msg), 0o600)
	if out, err := exec.Command("openssl", "dgst", "-sha256", "-sign", keyFile, "-out", sigFile, msgFile).CombinedOutput(); err != nil {
		t.Fatalf("openssl dgst -sign: %v: %s", err, out)
	}
	sig, err := os.ReadFile(sigFile)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// renewedProof returns the "proof" of the certificate.renewed event of id,
// waiting for the event to be listed: the log lists an event once no
// transaction older than its own is still running on the server, which
// another session (of any database) can delay.
func (e *env) renewedProof(id string) string {
	e.t.Helper()
	var out struct {
		Events []struct{ Data json.RawMessage }
	}
	waitFor(e.t, 10*time.Second, func() (bool, string) {
		r := e.do("GET", "/v1/events?type=certificate.renewed&resourceId="+id, e.admin, nil)
		r.json(e.t, &out)
		return len(out.Events) > 0, fmt.Sprintf("no certificate.renewed event of %s listed: %d %s", id, r.status, r.body)
	})
	var data struct{ Proof string }
	if err := json.Unmarshal(out.Events[0].Data, &data); err != nil {
		e.t.Fatal(err)
	}
	return data.Proof
}

// waitRenewedProof waits for the certificate.renewed event of id to be
// listed with the given proof: the listing shows an event once no
// transaction older than its own is still running, which may be a moment
// after the renewal has answered.
func (e *env) waitRenewedProof(id, want string) {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, func() (bool, string) {
		got := e.renewedProof(id)
		return got == want, fmt.Sprintf("certificate.renewed of %s lists proof %q, want %q", id, got, want)
	})
}

// TestRenewNeedsTheOldKey renews as a factory without the old key (refused,
// and the certificate is untouched), with it, and as an admin, and checks
// that the audit log says which proof each renewal had.
func TestRenewNeedsTheOldKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	victimKey := p256(t)
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, victimKey, "victim-1")})
	var victim issued
	r.json(t, &victim)
	renew := func(id, token string, body map[string]string) response {
		t.Helper()
		return e.do("POST", "/v1/certificates/"+id+"/renew", token, body)
	}

	// A factory token with someone else's key and the same CN: 403.
	attacker := p256(t)
	foreign := csrPEM(t, attacker, "victim-1")
	refused := map[string]map[string]string{
		"unrelated key":          {"csr": foreign},
		"proof by the wrong key": {"csr": foreign, "proof": renewalProof(t, attacker, victim.CertificateID, foreign)},
		"proof for another CSR":  {"csr": foreign, "proof": renewalProof(t, victimKey, victim.CertificateID, csrPEM(t, p256(t), "victim-1"))},
	}
	for name, body := range refused {
		r := renew(victim.CertificateID, e.factory, body)
		if code, msg := r.errorCode(t); r.status != 403 || code != "forbidden" || !strings.Contains(msg, victim.CertificateID) {
			t.Errorf("%s: renew = %d %s, want 403 naming the certificate", name, r.status, r.body)
		}
	}
	var got struct {
		Status, SupersededBy string
		Revocation           *struct{ Reason string }
	}
	e.do("GET", "/v1/certificates/"+victim.CertificateID, e.admin, nil).json(t, &got)
	if got.Status != "ACTIVE" || got.SupersededBy != "" || got.Revocation != nil {
		t.Fatalf("victim after refused renewals = %+v, want ACTIVE and not superseded", got)
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != 1 {
		t.Errorf("certificates = %d, want 1 (nothing issued for refused renewals)", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.renewed'`); n != 0 {
		t.Errorf("refused renewals left %d certificate.renewed events", n)
	}
	if r := e.doInvalid("POST", "/v1/certificates/"+victim.CertificateID+"/renew", e.factory,
		map[string]string{"csr": foreign, "proof": "not base64!"}); r.status != 400 {
		t.Errorf("malformed proof = %d %s, want 400", r.status, r.body)
	}

	// A factory token with the certificate's own key: 201, "same-key".
	r = renew(victim.CertificateID, e.factory, map[string]string{"csr": csrPEM(t, victimKey, "victim-1")})
	var second issued
	r.json(t, &second)
	if r.status != 201 {
		t.Fatalf("factory, same key: renew = %d %s", r.status, r.body)
	}
	e.waitRenewedProof(victim.CertificateID, "same-key")

	// An admin with a new key: 201, "admin".
	newKey := p256(t)
	r = renew(second.CertificateID, e.admin, map[string]string{"csr": csrPEM(t, newKey, "victim-1")})
	var third issued
	r.json(t, &third)
	if r.status != 201 {
		t.Fatalf("admin, new key: renew = %d %s", r.status, r.body)
	}
	e.waitRenewedProof(second.CertificateID, "admin")

	// A factory token re-keying with a proof signed by the old key: 201,
	// "signature".
	next := csrPEM(t, p256(t), "victim-1")
	r = renew(third.CertificateID, e.factory, map[string]string{"csr": next, "proof": renewalProof(t, newKey, third.CertificateID, next)})
	if r.status != 201 {
		t.Fatalf("factory, new key with proof: renew = %d %s", r.status, r.body)
	}
	e.waitRenewedProof(third.CertificateID, "signature")
}
