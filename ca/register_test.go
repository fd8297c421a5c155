package ca_test

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

const testCode = "3f1c6b7a9e0d2c4b5a6978877665544332211000ffeeddccbbaa998877665544"

// mustOpenSSL runs openssl in dir and fails the test if it fails.
func mustRunOpenSSL(tb testing.TB, dir string, args ...string) {
	tb.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("openssl is required when CI is set")
		}
		tb.Skip("openssl not installed (CI unset)")
	}
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// mustOpenSSLCA makes a self-signed CA with openssl: name.key, name.pem.
// newkey is openssl's -newkey argument; extra goes to openssl req.
func mustOpenSSLCA(tb testing.TB, dir, name, newkey string, extra ...string) {
	tb.Helper()
	args := []string{"req", "-x509", "-newkey", newkey, "-nodes", "-keyout", name + ".key", "-out", name + ".pem",
		"-subj", "/O=Customer/CN=" + name, "-days", "30"}
	mustRunOpenSSL(tb, dir, append(args, extra...)...)
}

// mustOpenSSLSigned makes name.key and name.pem, a certificate for subject
// signed by the CA ca (ca.pem, ca.key) for days, as a customer does.
func mustOpenSSLSigned(tb testing.TB, dir, name, subject, caName string, days string) {
	tb.Helper()
	mustRunOpenSSL(tb, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", name+".key", "-out", name+".csr", "-subj", subject)
	mustRunOpenSSL(tb, dir, "x509", "-req", "-in", name+".csr", "-CA", caName+".pem", "-CAkey", caName+".key",
		"-CAcreateserial", "-out", name+".pem", "-days", days, "-sha256")
}

func mustRead(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestCheckExternalCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustOpenSSLCA(t, dir, "ec", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	mustOpenSSLCA(t, dir, "ecku", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	mustOpenSSLCA(t, dir, "rsa2048", "rsa:2048")
	mustOpenSSLCA(t, dir, "rsa1024", "rsa:1024")
	mustOpenSSLCA(t, dir, "noku", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "keyUsage=critical,digitalSignature")
	mustOpenSSLCA(t, dir, "ed", "ed25519")
	mustOpenSSLSigned(t, dir, "leaf", "/CN=leaf", "ec", "10")
	now := time.Now()
	tests := []struct {
		file    string
		now     time.Time
		want    imprint.KeyType
		wantErr string
	}{
		{file: "ec.pem", now: now, want: imprint.KeyECDSAP256},
		{file: "ecku.pem", now: now, want: imprint.KeyECDSAP384},
		{file: "rsa2048.pem", now: now, want: imprint.KeyRSA2048},
		{file: "ed.pem", now: now, want: imprint.KeyEd25519},
		{file: "rsa1024.pem", now: now, wantErr: "RSA key of 1024 bits is too small"},
		{file: "noku.pem", now: now, wantErr: "keyUsage lacks keyCertSign"},
		{file: "leaf.pem", now: now, wantErr: "not a CA certificate: it lacks basicConstraints"},
		{file: "ec.pem", now: now.Add(31 * 24 * time.Hour), wantErr: "caCertificatePem has expired"},
		{file: "ec.pem", now: now.Add(-time.Hour), wantErr: "caCertificatePem is not valid yet"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.wantErr, func(t *testing.T) {
			cert, err := ca.ParseCertificatePEM("caCertificatePem", mustRead(t, dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ca.CheckExternalCA(cert, tt.now)
			if tt.wantErr != "" {
				if err == nil || imprint.ErrorKind(err) != imprint.Invalid || !strings.Contains(imprint.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("CheckExternalCA() error = %v, want Invalid containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CheckExternalCA() = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckVerificationCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustOpenSSLCA(t, dir, "ca", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	mustOpenSSLCA(t, dir, "other", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	mustOpenSSLSigned(t, dir, "good", "/CN="+testCode, "ca", "1")
	mustOpenSSLSigned(t, dir, "upper", "/O=x/CN="+strings.ToUpper(testCode), "ca", "1")
	mustOpenSSLSigned(t, dir, "wrongcn", "/CN="+strings.Repeat("0", 64), "ca", "1")
	mustOpenSSLSigned(t, dir, "othersig", "/CN="+testCode, "other", "1")
	caCert, err := ca.ParseCertificatePEM("caCertificatePem", mustRead(t, dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		file, code string
		now        time.Time
		wantErr    string
	}{
		{file: "good.pem", code: testCode, now: now},
		{file: "upper.pem", code: testCode, now: now},
		{file: "wrongcn.pem", code: testCode, now: now, wantErr: "not the current registration code"},
		{file: "good.pem", code: "", now: now, wantErr: "not the current registration code"},
		{file: "othersig.pem", code: testCode, now: now, wantErr: "not signed by the key of caCertificatePem"},
		{file: "good.pem", code: testCode, now: now.Add(3 * 24 * time.Hour), wantErr: "verificationCertificatePem has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.wantErr, func(t *testing.T) {
			ver, err := ca.ParseCertificatePEM("verificationCertificatePem", mustRead(t, dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			err = ca.CheckVerificationCertificate(caCert, ver, tt.code, tt.now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckVerificationCertificate() = %v, want nil", err)
				}
				return
			}
			if err == nil || imprint.ErrorKind(err) != imprint.Invalid || !strings.Contains(imprint.ErrorMessage(err), tt.wantErr) {
				t.Fatalf("CheckVerificationCertificate() = %v, want Invalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseCertificatePEM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustOpenSSLCA(t, dir, "ca", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	one := mustRead(t, dir, "ca.pem")
	key := mustRead(t, dir, "ca.key")
	tests := []struct {
		name     string
		data     []byte
		wantKind imprint.Kind
		wantErr  string
	}{
		{"one", one, 0, ""},
		{"one with white space", append(append([]byte("\n\n"), one...), "\n\n"...), 0, ""},
		{"empty", nil, imprint.Invalid, "is empty"},
		{"garbage", []byte("not a certificate"), imprint.Invalid, "is not PEM"},
		{"two", append(append([]byte{}, one...), one...), imprint.Invalid, "more than one PEM block"},
		{"trailing", append(append([]byte{}, one...), "junk"...), imprint.Invalid, "data after its PEM block"},
		{"key", key, imprint.Invalid, `PEM block is "PRIVATE KEY"`},
		{"bad DER", []byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), imprint.Invalid, "not a valid X.509 certificate"},
		{"too large", append(append([]byte{}, one...), make([]byte, ca.MaxCertificatePEMSize)...), imprint.TooLarge, "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.ParseCertificatePEM("f", tt.data)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCertificatePEM() = %v", err)
				}
				return
			}
			if imprint.ErrorKind(err) != tt.wantKind || !strings.Contains(imprint.ErrorMessage(err), tt.wantErr) {
				t.Fatalf("ParseCertificatePEM() = %v, want %v containing %q", err, tt.wantKind, tt.wantErr)
			}
		})
	}
}

func TestCheckRegisteredCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustOpenSSLCA(t, dir, "ca", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	// An intermediate CA under ca, and a device under it.
	os.WriteFile(filepath.Join(dir, "v3ca.cnf"), []byte("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"), 0o600)
	mustRunOpenSSL(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "int.key", "-out", "int.csr", "-subj", "/O=Customer/CN=int")
	mustRunOpenSSL(t, dir, "x509", "-req", "-in", "int.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "int.pem", "-days", "20", "-extfile", "v3ca.cnf")
	mustOpenSSLSigned(t, dir, "dev", "/O=Acme, Inc./CN=dev-1", "int", "10")
	mustOpenSSLSigned(t, dir, "cadev", "/CN=dev-2", "ca", "10")
	parse := func(name string) *parsed { return mustParsed(t, mustRead(t, dir, name)) }
	root, inter, dev, cadev := parse("ca.pem"), parse("int.pem"), parse("dev.pem"), parse("cadev.pem")
	rootCA := &imprint.CA{ID: ca.CertificateID(root.Cert.Raw), Role: imprint.CAExternal}
	intCA := &imprint.CA{ID: ca.CertificateID(inter.Cert.Raw), Role: imprint.CAExternal}
	now := time.Now()

	got, err := ca.CheckRegisteredCertificate(dev.Cert, intCA, inter.Cert, now)
	if err != nil {
		t.Fatalf("CheckRegisteredCertificate(device, its issuer) = %v", err)
	}
	if got.ID != ca.CertificateID(dev.Cert.Raw) || got.CAID != intCA.ID || got.CommonName != "dev-1" ||
		got.Subject != `CN=dev-1,O=Acme\, Inc.` || got.KeyAlgorithm != imprint.KeyECDSAP256 || got.Serial == "" {
		t.Errorf("CheckRegisteredCertificate() = %+v", got)
	}
	if _, err := ca.CheckRegisteredCertificate(cadev.Cert, rootCA, root.Cert, now); err != nil {
		t.Errorf("CheckRegisteredCertificate(device of the root, the root) = %v", err)
	}
	for _, tt := range []struct {
		name    string
		cert    *parsed
		c       *imprint.CA
		caCert  *parsed
		now     time.Time
		wantErr string
	}{
		{"CA above the issuer", dev, rootCA, root, now, "its issuer name is not the CA's subject"},
		{"a CA certificate", inter, rootCA, root, now, "is a CA certificate"},
		{"expired", dev, intCA, inter, now.Add(11 * 24 * time.Hour), "certificate has expired"},
		{"same name, other key", cadev, rootCA, mustParsed(t, sameNameOtherKey(t, dir)), now, "not signed by CA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.CheckRegisteredCertificate(tt.cert.Cert, tt.c, tt.caCert.Cert, tt.now)
			if imprint.ErrorKind(err) != imprint.Invalid || !strings.Contains(imprint.ErrorMessage(err), tt.wantErr) {
				t.Fatalf("CheckRegisteredCertificate() = %v, want Invalid containing %q", err, tt.wantErr)
			}
		})
	}
}

// sameNameOtherKey makes a CA with ca.pem's subject and another key.
func sameNameOtherKey(t *testing.T, dir string) []byte {
	mustRunOpenSSL(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "twin.key", "-out", "twin.pem", "-subj", "/O=Customer/CN=ca", "-days", "30")
	return mustRead(t, dir, "twin.pem")
}

type parsed struct{ Cert *x509.Certificate }

func mustParsed(tb testing.TB, pemData []byte) *parsed {
	tb.Helper()
	c, err := ca.ParseCertificatePEM("certificatePem", pemData)
	if err != nil {
		tb.Fatal(err)
	}
	return &parsed{Cert: c}
}
