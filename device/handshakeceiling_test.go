package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/device"
)

// ceilingTargets makes n devices of a CA of their own; wrongIssuer gives
// them another CA as their issuer.
func ceilingTargets(t *testing.T, n int, wrongIssuer bool) []device.ConnectTarget {
	t.Helper()
	ca := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key
	}
	issuer, issuerKey := ca("ceiling CA")
	other, _ := ca("another CA")
	var targets []device.ConnectTarget
	for i := range n {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)),
			Subject: pkix.Name{CommonName: "dev"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, issuer, key.Public(), issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		iss := issuer.Raw
		if wrongIssuer {
			iss = other.Raw
		}
		targets = append(targets, device.ConnectTarget{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
			ClientID: "dev", Issuer: iss})
	}
	return targets
}

// TestHandshakeCeiling: the ceiling's handshakes verify the devices'
// certificates (a device its server cannot verify fails), and the
// measurement ends with its server.
func TestHandshakeCeiling(t *testing.T) {
	for _, kex := range []string{"x25519", "hybrid"} {
		curves, err := device.KeyExchanges(kex)
		if err != nil {
			t.Fatal(err)
		}
		res, err := device.HandshakeCeiling(context.Background(), ceilingTargets(t, 3, false), 12, 3, curves)
		if err != nil || res.Issued != 12 || res.Failed != 0 || res.PerSecond <= 0 {
			t.Errorf("%s: HandshakeCeiling() = %+v, %v; want 12 handshakes", kex, res, err)
		}
	}
	res, err := device.HandshakeCeiling(context.Background(), ceilingTargets(t, 1, true), 2, 1, nil)
	if err != nil || res.Issued != 0 || res.Failed != 2 {
		t.Errorf("HandshakeCeiling() of devices the server cannot verify = %+v, %v; want every handshake refused", res, err)
	}
	if _, err := device.KeyExchanges("rsa"); err == nil {
		t.Error(`KeyExchanges("rsa") succeeded, want an error`)
	}
}
