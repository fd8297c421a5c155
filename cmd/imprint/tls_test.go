package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// mustSelfSigned writes a self-signed certificate for 127.0.0.1 with key
// into dir and returns the file names and the certificate.
func mustSelfSigned(t *testing.T, dir string, key crypto.Signer) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600)
	return certFile, keyFile, cert
}

// handshake connects to addr with a client offering only suites in TLS 1.2.
func handshake(addr string, roots *x509.CertPool, suites ...uint16) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{
		RootCAs: roots, MaxVersion: tls.VersionTLS12, CipherSuites: suites})
	if err != nil {
		return err
	}
	return conn.Close()
}

// opensslConnect runs openssl s_client against addr in TLS 1.2 with one cipher.
func opensslConnect(t *testing.T, addr, cipher string) error {
	t.Helper()
	cmd := exec.Command("openssl", "s_client", "-connect", addr, "-tls1_2", "-cipher", cipher)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
	}
	return nil
}

func needOpenSSL(t *testing.T) bool {
	if _, err := exec.LookPath("openssl"); err == nil {
		return true
	}
	if os.Getenv("CI") != "" {
		t.Fatal("openssl is required when CI is set")
	}
	return false
}

// TestServerTLSConfigRefusesCBC: the API listener's TLS 1.2 takes only ECDHE
// with AEAD ciphers, for RSA and ECDSA certificates alike.
func TestServerTLSConfigRefusesCBC(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name                    string
		key                     crypto.Signer
		cbc, aead               uint16
		opensslCBC, opensslAEAD string
	}{
		{"RSA", rsaKey, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			"ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES128-GCM-SHA256"},
		{"ECDSA", ecKey, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-GCM-SHA256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certFile, keyFile, cert := mustSelfSigned(t, t.TempDir(), tc.key)
			pair, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLSConfig(pair))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.(*tls.Conn).Handshake()
					c.Close()
				}
			}()
			roots := x509.NewCertPool()
			roots.AddCert(cert)
			addr := ln.Addr().String()
			if err := handshake(addr, roots, tc.cbc); err == nil {
				t.Errorf("a TLS 1.2 client offering only %s connected, want a refusal", tls.CipherSuiteName(tc.cbc))
			}
			if err := handshake(addr, roots, tc.aead); err != nil {
				t.Errorf("a TLS 1.2 client offering %s: %v, want a connection", tls.CipherSuiteName(tc.aead), err)
			}
			if err := handshake(addr, roots, tls.TLS_RSA_WITH_AES_128_GCM_SHA256); err == nil {
				t.Error("a TLS 1.2 client offering only RSA key transport connected, want a refusal")
			}
			if !needOpenSSL(t) {
				return
			}
			if err := opensslConnect(t, addr, tc.opensslCBC); err == nil {
				t.Errorf("openssl s_client -tls1_2 -cipher %s connected, want a refusal", tc.opensslCBC)
			}
			if err := opensslConnect(t, addr, tc.opensslAEAD); err != nil {
				t.Errorf("openssl s_client -tls1_2 -cipher %s: %v, want a connection", tc.opensslAEAD, err)
			}
		})
	}
}

// TestServeTLS is serve on HTTPS with /metrics on a listener of its own and
// the first admin token written to a file rather than printed.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certFile, keyFile, cert := mustSelfSigned(t, dir, ecKey)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := metricsLn.Addr().String()
	metricsLn.Close()
	tokenFile := filepath.Join(dir, "secrets", "admin-token")
	os.Mkdir(filepath.Dir(tokenFile), 0o700)
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": filepath.Join(dir, "data"),
		"IMPRINT_CA_PASSPHRASE": "tls", "IMPRINT_LOG_LEVEL": "warn", "IMPRINT_TLS_CERT": certFile, "IMPRINT_TLS_KEY": keyFile,
		"IMPRINT_METRICS_LISTEN": metricsAddr, "IMPRINT_ADMIN_TOKEN_FILE": tokenFile}
	s := startServeWith(t, env, client)
	defer s.stop()
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("serve URL = %q, want https", s.url)
	}

	// The first admin token: in the file, 0600, not in the output.
	if s.token != "" {
		t.Errorf("serve printed the first admin token with IMPRINT_ADMIN_TOKEN_FILE set")
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	if fi, _ := os.Stat(tokenFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file mode = %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "admin-token")); err == nil {
		t.Error("the token went to the data directory too")
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/cas", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/cas with the token from the file = %d, want 200", resp.StatusCode)
	}

	for _, path := range []string{"/readyz", "/v1/cas", "/metrics"} {
		resp, err := client.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q, want nosniff", path, got)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("GET %s: Strict-Transport-Security = %q, want max-age=…", path, got)
		}
		if path == "/metrics" && resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics on the API listener = %d, want 404 with IMPRINT_METRICS_LISTEN set", resp.StatusCode)
		}
	}
	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics listener: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("GET /metrics on the metrics listener = %d, want 200 with Go metrics", resp.StatusCode)
	}

	addr := strings.TrimPrefix(s.url, "https://")
	if err := handshake(addr, roots, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA); err == nil {
		t.Error("a TLS 1.2 client offering only CBC-SHA1 suites connected to serve, want a refusal")
	}
	if needOpenSSL(t) {
		if err := opensslConnect(t, addr, "ECDHE-ECDSA-AES128-SHA"); err == nil {
			t.Error("openssl s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA connected to serve, want a refusal")
		}
		if err := opensslConnect(t, addr, "ECDHE-ECDSA-AES128-GCM-SHA256"); err != nil {
			t.Errorf("openssl s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256: %v, want a connection", err)
		}
	}
}
