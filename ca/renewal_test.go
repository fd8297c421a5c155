package ca_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// selfSigned returns a certificate record for key, as ProveRenewal reads it.
func selfSigned(tb testing.TB, key crypto.Signer) *imprint.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dev"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &imprint.Certificate{ID: hex.EncodeToString(sum[:]), DER: der}
}

func devCSR(tb testing.TB, key crypto.Signer) *x509.CertificateRequest {
	tb.Helper()
	return mustCSR(tb, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev"}})
}

// opensslSign signs msg with key as the documentation says a client does:
// openssl dgst -sha256 -sign, or openssl pkeyutl -sign -rawin for Ed25519.
func opensslSign(tb testing.TB, key crypto.Signer, msg []byte) []byte {
	tb.Helper()
	openssl := mustOpenSSL(tb)
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	keyFile, msgFile, sigFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
	os.WriteFile(keyFile, keyPEM, 0o600)
	os.WriteFile(msgFile, msg, 0o600)
	args := []string{"dgst", "-sha256", "-sign", keyFile, "-out", sigFile, msgFile}
	if _, ok := key.(ed25519.PrivateKey); ok {
		args = []string{"pkeyutl", "-sign", "-rawin", "-inkey", keyFile, "-in", msgFile, "-out", sigFile}
	}
	if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
		tb.Fatalf("openssl %v: %v: %s", args, err, out)
	}
	sig, err := os.ReadFile(sigFile)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func TestProveRenewal(t *testing.T) {
	t.Parallel()
	for _, kt := range []imprint.KeyType{imprint.KeyECDSAP256, imprint.KeyECDSAP384, imprint.KeyEd25519, imprint.KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			oldKey, newKey := mustKey(t, kt), mustKey(t, kt)
			old := selfSigned(t, oldKey)
			rekey := devCSR(t, newKey)
			proof := opensslSign(t, oldKey, ca.RenewalMessage(old.ID, rekey.Raw))
			other := selfSigned(t, newKey)
			cases := []struct {
				name  string
				csr   *x509.CertificateRequest
				proof []byte
				want  imprint.RenewalProof
				fails bool // with Forbidden
			}{
				{"same key", devCSR(t, oldKey), nil, imprint.ProofSameKey, false},
				{"new key, no proof", rekey, nil, "", false},
				{"new key, proof", rekey, proof, imprint.ProofSignature, false},
				{"proof for another CSR", mustCSR(t, newKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-2"}}), proof, "", true},
				{"proof by the new key", rekey, opensslSign(t, newKey, ca.RenewalMessage(old.ID, rekey.Raw)), "", true},
				{"proof for another certificate", rekey, opensslSign(t, oldKey, ca.RenewalMessage(other.ID, rekey.Raw)), "", true},
				{"garbage proof", rekey, []byte("garbage"), "", true},
			}
			for _, c := range cases {
				got, err := ca.ProveRenewal(old, c.csr, c.proof)
				if got != c.want || (err != nil) != c.fails || (err != nil && imprint.ErrorKind(err) != imprint.Forbidden) {
					t.Errorf("%s: ProveRenewal() = %q, %v; want %q (fails with Forbidden: %v)", c.name, got, err, c.want, c.fails)
				}
			}
		})
	}
	// A CSR whose signature does not verify proves nothing.
	key := mustKey(t, imprint.KeyECDSAP256)
	csr := devCSR(t, key)
	csr.Signature[len(csr.Signature)-3] ^= 1
	if got, err := ca.ProveRenewal(selfSigned(t, key), csr, nil); got != "" || imprint.ErrorKind(err) != imprint.Invalid {
		t.Errorf("tampered CSR: ProveRenewal() = %q, %v; want Invalid", got, err)
	}
}
