package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/imprint-iot/imprint/device"
)

// clientFlags are the flags of commands that call the API.
type clientFlags struct {
	api, token, caFile, caID string
}

func addClientFlags(fs *flag.FlagSet, getenv func(string) string) *clientFlags {
	c := &clientFlags{}
	def := func(env, fallback string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&c.api, "api", def("IMPRINT_API", "http://127.0.0.1:8080"), "Imprint's base URL (IMPRINT_API)")
	fs.StringVar(&c.token, "token", getenv("IMPRINT_TOKEN"), "API token, role factory or admin (IMPRINT_TOKEN)")
	fs.StringVar(&c.caFile, "cacert", "", "PEM roots to trust for an HTTPS API (default: the system's)")
	fs.StringVar(&c.caID, "ca-id", "", "issuing CA (default: Imprint's default CA)")
	return c
}

func (c *clientFlags) client() (*device.Client, error) {
	if c.token == "" {
		return nil, errors.New("--token (or IMPRINT_TOKEN) is required")
	}
	var tlsConfig *tls.Config
	if c.caFile != "" {
		b, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.caFile)
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return device.NewClient(c.api, c.token, tlsConfig), nil
}

func runDeviceEnroll(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("device enroll", "device enroll --api URL --token T --cn NAME --out DIR [flags]",
		"Makes a key and a CSR, has Imprint sign it, and writes device.key (0600), device.crt and chain.pem.")
	cf := addClientFlags(fs, getenv)
	cn := fs.String("cn", "", "the device's common name (required)")
	out := fs.String("out", ".", "directory for device.key, device.crt and chain.pem")
	keyType := fs.String("key-type", "EC-P256", "EC-P256, EC-P384, Ed25519, RSA-2048, RSA-3072 or RSA-4096")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *cn == "" {
		return errors.New("--cn is required")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	e, err := device.Enroll(ctx, c, *cn, *keyType, cf.caID)
	if err != nil {
		return err
	}
	if err := e.WriteFiles(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate %s\nserial      %s\nnot after   %s\nwritten to  %s\n", e.Certificate.CertificateID,
		e.Certificate.Serial, e.Certificate.NotAfter.Format(time.RFC3339), *out)
	return nil
}

func runBenchIssue(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench issue", "bench issue --api URL --token T [flags]",
		"Issues certificates from pre-generated CSRs against a running server and prints the throughput,\n"+
			"the p50/p95/p99 latency, and the in-process signing ceiling of this machine.")
	cf := addClientFlags(fs, getenv)
	count := fs.Int("count", 10000, "certificates to issue")
	conc := fs.Int("concurrency", 16, "requests in flight")
	batch := fs.Int("batch", 1, "CSRs per request (more than 1 uses the batch endpoint, at most 1000)")
	ceiling := fs.Bool("ceiling", true, "also measure the in-process signing ceiling of this machine")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *count < 1 || *conc < 1 || *batch < 1 || *batch > 1000 {
		return errors.New("--count and --concurrency must be positive, --batch from 1 to 1000")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "preparing %d P-256 CSRs...\n", *count)
	csrs, err := device.PrepareCSRs(*count)
	if err != nil {
		return err
	}
	res := device.RunIssueLoad(ctx, c, csrs, device.LoadOptions{Count: *count, Concurrency: *conc, Batch: *batch, CAID: cf.caID})
	fmt.Fprintf(stdout, "issued %d, failed %d in %s (concurrency %d, batch %d)\n", res.Issued, res.Failed,
		res.Elapsed.Round(time.Millisecond), *conc, *batch)
	fmt.Fprintf(stdout, "throughput  %.0f certificates/s\nlatency     p50 %s  p95 %s  p99 %s (per request)\n",
		res.PerSecond, res.P50.Round(10*time.Microsecond), res.P95.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond))
	if res.FirstError != nil {
		fmt.Fprintf(stdout, "first error: %v\n", res.FirstError)
	}
	if *ceiling {
		ders := make([][]byte, 0, min(len(csrs), 2000))
		for _, p := range csrs[:cap(ders)] {
			b, _ := pem.Decode(p)
			ders = append(ders, b.Bytes)
		}
		ceil, err := device.SigningCeiling(ders, 3*time.Second, runtime.GOMAXPROCS(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ceiling     %.0f certificates/s (parse + check + sign in-process, %d cores, no HTTP, no storage)\n",
			ceil, runtime.GOMAXPROCS(0))
		fmt.Fprintf(stdout, "ratio       %.2f of the ceiling\n", res.PerSecond/ceil)
	}
	if res.Issued == 0 {
		return fmt.Errorf("nothing was issued: %v", res.FirstError)
	}
	return nil
}

func runBenchOCSP(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench ocsp", "bench ocsp --api URL --token T [flags]",
		"Issues certificates, then asks for their OCSP status against a running server and prints the throughput\n"+
			"and the p50/p95/p99 latency.")
	cf := addClientFlags(fs, getenv)
	count := fs.Int("count", 100000, "OCSP requests to send")
	conc := fs.Int("concurrency", 16, "requests in flight")
	certs := fs.Int("certificates", 1000, "certificates to issue and ask about, in turn")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *count < 1 || *conc < 1 || *certs < 1 || *certs > 1000 {
		return errors.New("--count and --concurrency must be positive, --certificates from 1 to 1000")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "issuing %d certificates to ask about...\n", *certs)
	targets, err := device.PrepareOCSPTargets(ctx, c, *certs)
	if err != nil {
		return err
	}
	res, err := device.RunOCSPLoad(ctx, c.BaseURL, targets, *count, *conc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "answered %d, failed %d in %s (concurrency %d, GET, no nonce)\n", res.Issued, res.Failed,
		res.Elapsed.Round(time.Millisecond), *conc)
	fmt.Fprintf(stdout, "throughput  %.0f responses/s\nlatency     p50 %s  p95 %s  p99 %s\n", res.PerSecond,
		res.P50.Round(10*time.Microsecond), res.P95.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond))
	if res.FirstError != nil {
		return fmt.Errorf("first error: %w", res.FirstError)
	}
	return nil
}
