package provisioning_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// ownCA is a customer's CA made in Go, not registered yet: its certificate and key.
type ownCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newOwnCA(t testing.TB, cn string) *ownCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ownCA{cert: cert, key: key}
}

func (c *ownCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

// sign returns a certificate for cn and pub, signed by c, PEM.
func (c *ownCA) sign(t testing.TB, serial int64, cn string, pub any) []byte {
	t.Helper()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, c.cert, pub, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

var admin = imprint.Actor{Name: "admin", Role: imprint.RoleAdmin}

func TestRegisterCATrustPool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cust := newOwnCA(t, "Customer CA")
	code, err := f.engine.RegistrationCode(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ver := cust.sign(t, 2, code, key.Public())
	dev, _ := x509.ParseCertificate(pemDER(t, cust.sign(t, 3, "dev", key.Public())))
	trusted := func() bool {
		_, err := dev.Verify(x509.VerifyOptions{Roots: f.ca.TrustPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err == nil
	}
	c, err := f.engine.RegisterCA(ctx, provisioning.RegisterCARequest{Actor: admin, CACertificatePEM: cust.pem(),
		VerificationCertificatePEM: ver, SetAsActive: true})
	if err != nil {
		t.Fatalf("RegisterCA() = %v", err)
	}
	if c.Role != imprint.CAExternal || c.Status != imprint.CAActive || c.KeyURI != "" || c.CreatedAt.IsZero() {
		t.Errorf("RegisterCA() = %+v", c)
	}
	if !trusted() {
		t.Fatal("the registered ACTIVE CA is not in TrustPool() when RegisterCA returns")
	}
	inactive := imprint.CAInactive
	if _, err := f.engine.UpdateCA(ctx, admin, c.ID, imprint.CAUpdate{Status: &inactive}); err != nil {
		t.Fatal(err)
	}
	if trusted() {
		t.Error("the deactivated CA is still in TrustPool() when UpdateCA returns")
	}
}

func TestRegistrationCodeConcurrentFirstReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	codes := make([]string, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := f.engine.RegistrationCode(ctx, admin)
			if err != nil {
				t.Error(err)
			}
			codes[i] = c
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != codes[0] || len(c) != 64 {
			t.Fatalf("concurrent first reads = %v, want one code", codes)
		}
	}
}

// TestRegisterBatchAtTheLimit registers the largest batch, with a few bad
// items among the good, in one call.
func TestRegisterBatchAtTheLimit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("10,000 certificates: not in -short runs")
	}
	f := newFixture(t)
	cust := newOwnCA(t, "Line CA")
	if _, err := f.engine.RegisterCA(ctx, provisioning.RegisterCARequest{Actor: admin, CACertificatePEM: cust.pem(),
		AllowWithoutVerification: true, SetAsActive: true}); err != nil {
		t.Fatal(err)
	}
	stranger := newOwnCA(t, "Stranger CA")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var bundle bytes.Buffer
	for i := range provisioning.MaxIntakeItems {
		switch {
		case i%1000 == 7:
			bundle.Write(stranger.sign(t, int64(i+10), "s", key.Public()))
		default:
			bundle.Write(cust.sign(t, int64(i+10), "dev", key.Public()))
		}
	}
	items, err := provisioning.ReadIntake(provisioning.IntakePEM, bundle.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.engine.RegisterCertificates(ctx, admin, items, "ACTIVE")
	if err != nil {
		t.Fatalf("RegisterCertificates() = %v", err)
	}
	if len(res.Registered) != provisioning.MaxIntakeItems-10 || len(res.Failed) != 10 {
		t.Fatalf("RegisterCertificates() registered %d, failed %d, want %d and 10", len(res.Registered), len(res.Failed), provisioning.MaxIntakeItems-10)
	}
	for _, fl := range res.Failed {
		if fl.Index%1000 != 7 || imprint.ErrorKind(fl.Err) != imprint.Invalid {
			t.Errorf("failure %+v, want the stranger's certificates only", fl)
		}
	}
	c, err := f.db.Certificate(ctx, res.Registered[9000].CertificateID)
	if err != nil || c.Status != imprint.CertificateActive {
		t.Errorf("a registered certificate = %+v, %v", c, err)
	}
	// Again: every one is registered already, and nothing changes.
	res, err = f.engine.RegisterCertificates(ctx, admin, items, "")
	if err != nil || len(res.Registered) != 0 || len(res.Failed) != provisioning.MaxIntakeItems {
		t.Fatalf("RegisterCertificates() again = %d registered, %d failed, %v", len(res.Registered), len(res.Failed), err)
	}
}

func pemDER(t testing.TB, p []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(p)
	return b.Bytes
}
