package device

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"sync/atomic"
	"time"
)

// SigningCeiling measures, in this process on every core, how many P-256
// device certificates per second the bare standard library can make from
// DER CSRs: parse, check the signature, sign. It is the ceiling any issuing
// path on this machine stays under; the load generator reports Imprint's
// throughput as a fraction of it.
func SigningCeiling(csrs [][]byte, d time.Duration, workers int) (float64, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ceiling"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		return 0, err
	}
	issuerCert, err := x509.ParseCertificate(der)
	if err != nil {
		return 0, err
	}
	var (
		done     atomic.Int64
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i += workers {
				if err := signOnce(csrs[i%len(csrs)], issuerCert, key); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

func signOnce(csrDER []byte, issuerCert *x509.Certificate, key *ecdsa.PrivateKey) error {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return err
	}
	if err := csr.CheckSignature(); err != nil {
		return err
	}
	serial := make([]byte, 16)
	if _, err := rand.Read(serial); err != nil {
		return err
	}
	now := time.Now()
	_, err = x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial), Subject: csr.Subject, NotBefore: now, NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CRLDistributionPoints: []string{"http://localhost/crl"}, OCSPServer: []string{"http://localhost/ocsp"},
	}, issuerCert, csr.PublicKey, key)
	return err
}
