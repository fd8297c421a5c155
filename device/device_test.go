package device_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/device"
)

func TestGenerateKey(t *testing.T) {
	for _, tc := range []struct {
		keyType string
		check   func(any) bool
	}{
		{"", func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P256() }},
		{string(imprint.KeyECDSAP256), func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P256() }},
		{string(imprint.KeyECDSAP384), func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P384() }},
		{string(imprint.KeyEd25519), func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
		{string(imprint.KeyRSA2048), func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 }},
	} {
		key, err := device.GenerateKey(tc.keyType)
		if err != nil || !tc.check(key) {
			t.Errorf("GenerateKey(%q) = %T, %v", tc.keyType, key, err)
		}
	}
	if _, err := device.GenerateKey("DSA-1024"); err == nil {
		t.Error("GenerateKey(DSA-1024) succeeded, want an error")
	}
}

// TestNewCSRWithOpenSSL checks the CSR a device sends with openssl: the
// signature verifies and the subject is the common name alone.
func TestNewCSRWithOpenSSL(t *testing.T) {
	key, err := device.GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := device.NewCSR(key, "sensor-0042")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "sensor-0042" {
		t.Fatalf("CSR = %+v, %v", csr, err)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required when CI is set")
		}
		t.Skip("openssl not installed (CI unset, so skipping)")
	}
	path := filepath.Join(t.TempDir(), "device.csr")
	if err := os.WriteFile(path, csrPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "req", "-in", path, "-noout", "-verify", "-subject", "-nameopt", "RFC2253").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "subject=CN=sensor-0042") {
		t.Errorf("openssl req -verify: %v\n%s", err, out)
	}
}

func TestSigningCeiling(t *testing.T) {
	csrs, err := device.PrepareCSRs(4)
	if err != nil {
		t.Fatal(err)
	}
	ders := make([][]byte, len(csrs))
	for i, p := range csrs {
		b, _ := pem.Decode(p)
		ders[i] = b.Bytes
	}
	if perSecond, err := device.SigningCeiling(ders, 50*time.Millisecond, 2); err != nil || perSecond <= 0 {
		t.Errorf("SigningCeiling() = %v, %v; want a positive rate", perSecond, err)
	}
	if _, err := device.SigningCeiling([][]byte{[]byte("not a CSR")}, 50*time.Millisecond, 1); err == nil {
		t.Error("SigningCeiling() of a broken CSR succeeded, want its error")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	e := &device.Enrolled{KeyPEM: []byte("key"), Certificate: &device.Certificate{CertificatePEM: "cert", ChainPEM: "chain"}}
	if err := e.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"device.key": 0o600, "device.crt": 0o644, "chain.pem": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", name, fi, err, mode)
		}
	}
}
