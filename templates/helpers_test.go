package templates

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
)

// examplesDir holds AWS's documented examples; CI checks the repository out
// beside shared/.
const examplesDir = "../testdata/aws-examples"

// readExample returns the content of an example file. Without the examples
// the test is skipped, except in CI, where it fails.
func readExample(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if errors.Is(err, os.ErrNotExist) && os.Getenv("CI") == "" {
		tb.Skipf("AWS examples not found at %s", examplesDir)
	}
	if err != nil {
		tb.Fatalf("read example: %v", err)
	}
	return string(b)
}

func mustParse(tb testing.TB, body string, opts Options) *Template {
	tb.Helper()
	t, err := Parse(body, opts)
	if err != nil {
		tb.Fatalf("Parse() error = %v", err)
	}
	return t
}

func mustEvaluate(tb testing.TB, t *Template, in Input) *Plan {
	tb.Helper()
	p, err := t.Evaluate(in)
	if err != nil {
		tb.Fatalf("Evaluate() error = %v", err)
	}
	return p
}

// problemsOf returns the problems err carries, checking that it is an
// *imprint.Error of kind Invalid whose message lists them.
func problemsOf(tb testing.TB, err error) []Problem {
	tb.Helper()
	if err == nil {
		tb.Fatal("error = nil, want problems")
	}
	if k := imprint.ErrorKind(err); k != imprint.Invalid {
		tb.Errorf("ErrorKind() = %v, want invalid", k)
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		tb.Fatalf("error %v holds no *ValidationError", err)
	}
	msg := imprint.ErrorMessage(err)
	for _, p := range verr.Problems {
		if !strings.Contains(msg, p.String()) {
			tb.Errorf("ErrorMessage() = %q, does not list %q", msg, p)
		}
	}
	return verr.Problems
}

// hasProblem reports whether ps has a problem at path whose message
// contains text.
func hasProblem(ps []Problem, path, text string) bool {
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, text) {
			return true
		}
	}
	return false
}

// certOptions are the contents of a test device certificate.
type certOptions struct {
	subject pkix.Name
	dns     []string
	emails  []string
	uris    []string
	ips     []string
	serial  int64
}

// mustCertificate returns a device certificate signed by a fresh test CA.
func mustCertificate(tb testing.TB, o certOptions) *x509.Certificate {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Imprint Test CA", Organization: []string{"Imprint Test"}, Country: []string{"DE"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial := o.serial
	if serial == 0 {
		serial = 0x1f2e3d
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(serial),
		Subject:        o.subject,
		NotBefore:      now.Add(-time.Hour),
		NotAfter:       now.Add(time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:       o.dns,
		EmailAddresses: o.emails,
	}
	for _, u := range o.uris {
		parsed, err := url.Parse(u)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	for _, ip := range o.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// lightBulb is the subject of the device of AWS's JITP example.
var lightBulb = pkix.Name{
	CommonName:   "LightBulb_0042",
	SerialNumber: "SN-0042",
	Country:      []string{"US"},
	Organization: []string{"Example Corp"},
}

// certID is a valid certificate ID for fleet templates.
const certID = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// pkixName shortens the type of certificate subjects in tables.
type pkixName = pkix.Name

// compact returns the JSON document s without insignificant whitespace.
func compact(tb testing.TB, s string) string {
	tb.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		tb.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}
