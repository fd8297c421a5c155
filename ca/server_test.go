package ca_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// TestIssueServerCertificate checks with openssl that a device listener's
// certificate verifies up to the root as a TLS server for its names, and
// not as a TLS client (a device) nor for another name; and that bad host
// lists are refused.
func TestIssueServerCertificate(t *testing.T) {
	t.Parallel()
	openssl := mustOpenSSL(t)
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	cert, chainPEM, err := e.a.IssueServerCertificate(context.Background(), []string{"localhost", "127.0.0.1", "Device.Example.com"})
	if err != nil {
		t.Fatalf("IssueServerCertificate() error = %v", err)
	}
	if len(cert.Certificate) != 2 || cert.Leaf == nil || cert.PrivateKey == nil {
		t.Fatalf("certificate has %d DER blocks (want leaf and issuing CA), leaf %v", len(cert.Certificate), cert.Leaf != nil)
	}
	if got := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); got > ca.ServerCertificateValidity+time.Minute || got < 89*24*time.Hour {
		t.Errorf("validity = %v, want about %v", got, ca.ServerCertificateValidity)
	}
	var blocks [][]byte
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b.Bytes)
	}
	if len(blocks) != 3 || sha256Hex(blocks[1]) != issuing.ID || sha256Hex(blocks[2]) != root.ID {
		t.Fatalf("chain PEM holds %d certificates; want leaf, issuing CA %s, root %s", len(blocks), issuing.ID, root.ID)
	}
	dir := t.TempDir()
	write := func(name string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	leaf, mid, top := write("leaf.pem", blocks[0]), write("issuing.pem", blocks[1]), write("root.pem", blocks[2])
	verify := func(args ...string) error {
		args = append(append([]string{"verify", "-CAfile", top, "-untrusted", mid}, args...), leaf)
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err == nil && !strings.Contains(string(out), ": OK") {
			return &exec.ExitError{}
		}
		return err
	}
	for _, args := range [][]string{
		{"-purpose", "sslserver", "-verify_hostname", "localhost"},
		{"-purpose", "sslserver", "-verify_hostname", "device.example.com"},
		{"-purpose", "sslserver", "-verify_ip", "127.0.0.1"},
	} {
		if err := verify(args...); err != nil {
			t.Errorf("openssl verify %v: %v", args, err)
		}
	}
	for _, args := range [][]string{
		{"-purpose", "sslclient"},
		{"-purpose", "sslserver", "-verify_hostname", "other.example.com"},
		{"-purpose", "sslserver", "-verify_ip", "127.0.0.2"},
	} {
		if err := verify(args...); err == nil {
			t.Errorf("openssl verify %v succeeded; want a failure", args)
		}
	}
	if cert.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || len(cert.Leaf.ExtKeyUsage) != 1 {
		t.Errorf("extended key usage = %v, want serverAuth only", cert.Leaf.ExtKeyUsage)
	}

	for _, hosts := range [][]string{nil, {"bad host"}, {"-x.example.com"}, make([]string, ca.MaxServerHosts+1)} {
		_, _, err := e.a.IssueServerCertificate(context.Background(), hosts)
		if imprint.ErrorKind(err) != imprint.Invalid {
			t.Errorf("IssueServerCertificate(%q) error = %v, want Invalid", hosts, err)
		}
	}
}
