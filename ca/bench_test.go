package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

// The benchmarks run with b.RunParallel: -cpu 1 gives the figure per core,
// -cpu 2 what the whole 2-core machine gives. Each reports ops/s. Compare
// with the ceilings of shared/docs/measurements.md section 1 (Go 1.26.8, 2
// vCPU AMD EPYC, medians; per core µs/op, per core ops/s, 2 cores ops/s):
//
//	x509.ParseCertificateRequest + CheckSignature (P-256, CN + 1 DNS SAN)   49.4   20,200   38,700
//	ECDSA P-256 verify (most of the line above)                             43.6   22,900   45,100
//	x509.CreateCertificate, P-256 device cert by a P-256 intermediate       82.6   12,100   22,300
//	issuance CPU = parse + check + template + sign                         132.6    7,540   14,150
//
// go test -tags nobadger,nobbolt,nomysql -run '^$' -bench . -benchmem -count 5 -cpu 1,2 ./ca/

// BenchmarkParseCSR is ParseCSR of a P-256 PEM CSR with a common name and
// one DNS SAN. It does not check the signature, so it should cost the first
// line of the table above less a P-256 verify: about 6 µs.
func BenchmarkParseCSR(b *testing.B) {
	data := mustCSRPEM(b, mustKey(b, imprint.KeyECDSAP256), benchCSRTemplate())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ca.ParseCSR(data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOpsPerSec(b)
}

// BenchmarkIssue is Authority.Issue of a parsed P-256 CSR from the default
// P-256 issuing CA: the profile checks, then smallstep's pipeline (signature
// check, template, modifiers, policy, sign), without storage. Compare with
// the issuance CPU line less the parse (~6 µs).
func BenchmarkIssue(b *testing.B) {
	e, _, _ := mustInitEnv(b, imprint.KeyECDSAP256)
	csr := mustCSR(b, mustKey(b, imprint.KeyECDSAP256), benchCSRTemplate())
	b.Run("P-256", func(b *testing.B) {
		benchIssue(b, func() error {
			_, err := e.a.Issue(context.Background(), ca.IssueRequest{CSR: csr})
			return err
		})
	})
	rich := mustRichCSR(b) // 13 attributes in 12 RDNs, every one checked
	b.Run("P-256-rich-subject", func(b *testing.B) {
		benchIssue(b, func() error {
			_, err := e.a.Issue(context.Background(), ca.IssueRequest{CSR: rich})
			return err
		})
	})
}

// BenchmarkSubject is the subject string Issue records, for the benchmark
// CSR (one CN) and the 13-attribute one of testdata.
func BenchmarkSubject(b *testing.B) {
	for _, bc := range []struct {
		name string
		csr  *x509.CertificateRequest
	}{
		{"CN", mustCSR(b, mustKey(b, imprint.KeyECDSAP256), benchCSRTemplate())},
		{"rich", mustRichCSR(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ca.Subject(bc.csr)
			}
		})
	}
}

// BenchmarkIssueFromPEM is ParseCSR then Issue, the CPU path of the issue
// endpoint without HTTP and JSON: compare with the issuance CPU line and
// BenchmarkSigningCeiling.
func BenchmarkIssueFromPEM(b *testing.B) {
	e, _, _ := mustInitEnv(b, imprint.KeyECDSAP256)
	data := mustCSRPEM(b, mustKey(b, imprint.KeyECDSAP256), benchCSRTemplate())
	b.Run("P-256", func(b *testing.B) {
		benchIssue(b, func() error {
			csr, err := ca.ParseCSR(data)
			if err != nil {
				return err
			}
			_, err = e.a.Issue(context.Background(), ca.IssueRequest{CSR: csr})
			return err
		})
	})
}

func benchIssue(b *testing.B, issue func() error) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := issue(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOpsPerSec(b)
}

// BenchmarkSigningCeiling is the bare standard library doing what Issue
// does: parse a DER CSR, check its signature, and sign a certificate with the
// same extensions as Imprint's (key usages, CA:FALSE, SKI/AKI, CRL DP, AIA)
// with a P-256 intermediate. BenchmarkIssueFromPEM over this is the cost of
// the smallstep pipeline and the profile checks.
func BenchmarkSigningCeiling(b *testing.B) {
	der := mustCSRDER(b, mustKey(b, imprint.KeyECDSAP256), benchCSRTemplate())
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench Issuing CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(ca.IssuingValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		b.Fatal(err)
	}
	caCert := mustParseCert(b, caDER)
	base := "https://imprint.example.com"
	b.RunParallel(func(pb *testing.PB) {
		serial := make([]byte, 16)
		for pb.Next() {
			csr, err := x509.ParseCertificateRequest(der)
			if err == nil {
				err = csr.CheckSignature()
			}
			if err == nil {
				rand.Read(serial)
				now := time.Now()
				_, err = x509.CreateCertificate(rand.Reader, &x509.Certificate{
					SerialNumber: new(big.Int).SetBytes(serial), Subject: csr.Subject,
					NotBefore: now.Add(-time.Minute), NotAfter: now.Add(imprint.DefaultValidityDays * day),
					KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
					BasicConstraintsValid: true, DNSNames: csr.DNSNames,
					CRLDistributionPoints: []string{base + "/crl/x.crl"}, OCSPServer: []string{base + "/ocsp/x"},
					IssuingCertificateURL: []string{base + "/ca/x.crt"},
				}, caCert, csr.PublicKey, caKey)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOpsPerSec(b)
}

func benchCSRTemplate() *x509.CertificateRequest {
	return &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "device-00c0ffee"},
		DNSNames: []string{"device-00c0ffee.acme.example"},
	}
}

func reportOpsPerSec(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
