package ca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/imprint-iot/imprint"
)

// Server certificates: what IssueServerCertificate makes.
const (
	// ServerCertificateValidity is the lifetime of a device listener's
	// certificate; the caller renews it before it ends.
	ServerCertificateValidity = 90 * 24 * time.Hour
	// MaxServerHosts bounds the names of one server certificate.
	MaxServerHosts = 32
)

// IssueServerCertificate makes a P-256 key and a certificate for it from the
// default issuing CA, for the device listeners' own TLS: extended key usage
// serverAuth only (RFC 5280 section 4.2.1.12; a device certificate's
// clientAuth is absent, so the certificate is no device's), the hosts as
// subject alternative names (section 4.2.1.6: an IP address as an iPAddress
// name, anything else as a dNSName), valid ServerCertificateValidity (never
// beyond the CA). It returns the certificate with its chain up to the root
// (leaf first, root last; the root is left out of what the TLS handshake
// sends) and the same chain as PEM. The certificate is not recorded: it
// names a server, not a device, and its key never leaves this process.
// Returns Invalid for no host, too many or a malformed one, and
// Unavailable when no issuing CA is loaded.
func (a *Authority) IssueServerCertificate(ctx context.Context, hosts []string) (tls.Certificate, []byte, error) {
	tpl, err := serverTemplate(hosts)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	iss, err := a.issuer("")
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := imprint.KeyECDSAP256.GenerateKey()
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	tpl.NotBefore, tpl.NotAfter = now.Add(-time.Minute), now.Add(ServerCertificateValidity)
	if tpl.NotAfter.After(iss.cert.NotAfter) {
		tpl.NotAfter = iss.cert.NotAfter
	}
	der, err := x509.CreateCertificate(nil, tpl, iss.cert, key.Public(), iss.signer)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("sign server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("parse server certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	var chainPEM bytes.Buffer
	pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	for i, c := range iss.chain {
		pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		if i < len(iss.chain)-1 { // peers hold the root already
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
	}
	a.log.InfoContext(ctx, "device listener certificate issued", "ca", iss.ca.ID, "hosts", hosts, "notAfter", tpl.NotAfter)
	return cert, chainPEM.Bytes(), nil
}

// serverTemplate returns the template of a server certificate for hosts,
// without validity.
func serverTemplate(hosts []string) (*x509.Certificate, error) {
	if len(hosts) == 0 {
		return nil, imprint.Errorf(imprint.Invalid, "a server certificate needs at least one host name or IP address")
	}
	if len(hosts) > MaxServerHosts {
		return nil, imprint.Errorf(imprint.Invalid, "a server certificate may name at most %d hosts", MaxServerHosts)
	}
	tpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			tpl.IPAddresses = append(tpl.IPAddresses, ip)
			continue
		}
		if !validHostName(h) {
			return nil, imprint.Errorf(imprint.Invalid, "%s is neither an IP address nor a DNS host name", imprint.Quote(h))
		}
		tpl.DNSNames = append(tpl.DNSNames, strings.ToLower(h))
	}
	tpl.Subject = pkix.Name{CommonName: strings.TrimSpace(hosts[0])}
	return tpl, nil
}

// validHostName reports whether h is a DNS host name (RFC 1123 labels; a
// leading "*." wildcard label is allowed).
func validHostName(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
