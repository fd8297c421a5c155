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
	"strings"
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

// readPool reads PEM certificates to trust from path.
func readPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

func runDeviceConnect(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("device connect", "device connect --endpoint mqtts://HOST:8883|https://HOST:8443 --cert F --key F --cafile F [flags]",
		"Connects to the device endpoint with a device's key and certificate and prints what it got: over MQTT the\n"+
			"CONNACK's reason code and reason string, over HTTPS the answer of GET /device/v1/whoami. Exits non-zero\n"+
			"when the device is refused.")
	endpoint := fs.String("endpoint", "", "mqtts://host:port or https://host:port (required)")
	certFile := fs.String("cert", "device.crt", "the device's certificate, PEM")
	keyFile := fs.String("key", "device.key", "the device's private key, PEM")
	caFile := fs.String("cafile", "", "what to trust for the endpoint's certificate, PEM (GET /ca/device-endpoint.pem; default: the system's roots)")
	clientID := fs.String("client-id", "", "MQTT client ID (default: the certificate's common name)")
	version := fs.String("mqtt-version", "5", "MQTT protocol version: 5 or 3.1.1")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("--endpoint is required")
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("the device's certificate and key: %w", err)
	}
	o := device.ConnectOptions{Endpoint: *endpoint, Certificate: cert, ClientID: *clientID, Timeout: *timeout}
	switch *version {
	case "5":
		o.MQTTVersion = device.MQTT5
	case "3.1.1", "4":
		o.MQTTVersion = device.MQTT311
	default:
		return fmt.Errorf("--mqtt-version %q: want 5 or 3.1.1", *version)
	}
	if *caFile != "" {
		if o.RootCAs, err = readPool(*caFile); err != nil {
			return err
		}
	}
	res, err := device.Connect(ctx, o)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *endpoint, err)
	}
	switch {
	case res.Protocol == "mqtt" && res.Accepted:
		fmt.Fprintf(stdout, "connected: CONNACK %#02x\n", res.ReasonCode)
		return nil
	case res.Protocol == "mqtt":
		return fmt.Errorf("refused: CONNACK %#02x: %s", res.ReasonCode, res.Reason)
	case res.Accepted:
		fmt.Fprintln(stdout, strings.TrimSpace(string(res.Body)))
		return nil
	}
	return fmt.Errorf("refused: %d: %s", res.StatusCode, res.Reason)
}

func runBenchConnect(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench connect", "bench connect --api URL --token T --mqtt HOST:PORT --cafile F --mode jitp|reconnect|idle [flags]",
		"Measures device connections against a running server: each a full TLS handshake with the device's\n"+
			"certificate, MQTT 5 CONNECT, CONNACK and DISCONNECT. Keys and certificates are made before the clock\n"+
			"starts. jitp: devices of a customer CA the command registers (admin token) with a JITP template that\n"+
			"creates a thing and attaches a connect policy, each connecting for the first time. reconnect:\n"+
			"certificates issued through the API with a connect policy attached, each connected once before the\n"+
			"clock, then measured connecting again. idle: as reconnect, then --count sessions held open for --hold.")
	cf := addClientFlags(fs, getenv)
	mqttAddr := fs.String("mqtt", "127.0.0.1:8883", "the MQTT listener, host:port")
	caFile := fs.String("cafile", "", "what to trust for the device endpoint's certificate, PEM (GET /ca/device-endpoint.pem; default: the system's)")
	count := fs.Int("count", 3000, "connections to make")
	conc := fs.Int("concurrency", 16, "connections in flight")
	mode := fs.String("mode", "reconnect", "jitp (first connections), reconnect (known devices) or idle (hold --count sessions open)")
	ceiling := fs.Bool("ceiling", true, "after the run, measure the full mTLS handshakes/s of an in-process server with the same certificates")
	kexName := fs.String("kex", "x25519", "the key exchange the devices offer: x25519 or p256 (as device TLS stacks), or hybrid (Go's default, X25519MLKEM768 first)")
	hold := fs.Duration("hold", 30*time.Second, "idle: how long to hold the sessions open (under 90 s: they send no PINGREQ)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *count < 1 || *count > 1_000_000 || *conc < 1 {
		return errors.New("--count must be from 1 to 1000000 and --concurrency positive")
	}
	if *mode != "jitp" && *mode != "reconnect" && *mode != "idle" {
		return fmt.Errorf("--mode %q: want jitp, reconnect or idle", *mode)
	}
	kex, err := device.KeyExchanges(*kexName)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var roots *x509.CertPool
	if *caFile != "" {
		if roots, err = readPool(*caFile); err != nil {
			return err
		}
	}
	var targets []device.ConnectTarget
	if *mode == "jitp" {
		fmt.Fprintf(stdout, "registering a customer CA and signing %d device certificates...\n", *count)
		var caID string
		if targets, caID, err = device.PrepareJITPTargets(ctx, c, *count); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "customer CA %s\n", caID)
	} else {
		fmt.Fprintf(stdout, "issuing %d certificates, attaching a connect policy, connecting each once...\n", *count)
		if targets, err = device.PrepareReconnectTargets(ctx, c, *count, cf.caID, *mqttAddr, roots); err != nil {
			return err
		}
	}
	if *mode == "idle" {
		start := time.Now()
		held, failed, err := device.HoldConnections(ctx, *mqttAddr, roots, targets, *conc)
		if held == nil {
			return err
		}
		defer held.Close()
		fmt.Fprintf(stdout, "holding %d idle sessions (failed %d, connected in %s) for %s\n", held.Len(), failed,
			time.Since(start).Round(time.Millisecond), *hold)
		if err != nil {
			fmt.Fprintf(stdout, "first error: %v\n", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(*hold):
		}
		if held.Len() == 0 {
			return fmt.Errorf("no session held: %v", err)
		}
		return nil
	}
	res := device.RunConnectLoad(ctx, *mqttAddr, roots, targets, *conc, kex)
	fmt.Fprintf(stdout, "connected %d, failed %d in %s (mode %s, concurrency %d, full TLS handshake each, key exchange %s)\n", res.Issued, res.Failed,
		res.Elapsed.Round(time.Millisecond), *mode, *conc, *kexName)
	fmt.Fprintf(stdout, "throughput  %.0f connections/s\nlatency     p50 %s  p95 %s  p99 %s (handshake + CONNECT/CONNACK)\n", res.PerSecond,
		res.P50.Round(10*time.Microsecond), res.P95.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond))
	if res.FirstError != nil {
		fmt.Fprintf(stdout, "first error: %v\n", res.FirstError)
	}
	if res.Issued == 0 {
		return fmt.Errorf("no connection succeeded: %v", res.FirstError)
	}
	if *ceiling {
		ceil, err := device.HandshakeCeiling(ctx, targets, *count, *conc, kex)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ceiling     %.0f full mTLS handshakes/s (in-process server, same certificates and key exchange, no MQTT, no database); share %.2f\n",
			ceil.PerSecond, res.PerSecond/ceil.PerSecond)
	}
	return nil
}
