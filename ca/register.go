package ca

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"

	"github.com/imprint-iot/imprint"
)

// Registration of certificates Imprint did not sign: a customer's CA, proved
// by a verification certificate, and device certificates that such a CA (or
// one of Imprint's issuing CAs) signed. Everything here is pure: no I/O, the
// time passed in.

// MaxCertificatePEMSize is the largest certificate field accepted, in bytes
// of PEM (AWS IoT's certificatePem limit).
const MaxCertificatePEMSize = 64 << 10

// ParseCertificatePEM parses field, which must hold exactly one PEM
// CERTIFICATE block and nothing else but white space. Returns Invalid naming
// field for anything else, and TooLarge for more than
// MaxCertificatePEMSize bytes.
func ParseCertificatePEM(field string, data []byte) (*x509.Certificate, error) {
	if len(data) > MaxCertificatePEMSize {
		return nil, imprint.Errorf(imprint.TooLarge, "%s is larger than %d bytes", field, MaxCertificatePEMSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, imprint.Errorf(imprint.Invalid, "%s is empty; a PEM CERTIFICATE is required", field)
	}
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, imprint.Errorf(imprint.Invalid, "%s is not PEM: no -----BEGIN CERTIFICATE----- block", field)
	case block.Type != "CERTIFICATE":
		return nil, imprint.Errorf(imprint.Invalid, "%s: PEM block is %q, want CERTIFICATE", field, block.Type)
	case len(block.Headers) > 0:
		return nil, imprint.Errorf(imprint.Invalid, "%s: the PEM block has headers; a certificate has none", field)
	case len(bytes.TrimSpace(rest)) > 0:
		if next, _ := pem.Decode(rest); next != nil {
			return nil, imprint.Errorf(imprint.Invalid, "%s holds more than one PEM block; give one certificate", field)
		}
		return nil, imprint.Errorf(imprint.Invalid, "%s holds data after its PEM block", field)
	}
	return ParseCertificateDER(field, block.Bytes)
}

// ParseCertificateDER parses one DER certificate. Returns Invalid naming
// field if it is malformed.
func ParseCertificateDER(field string, der []byte) (*x509.Certificate, error) {
	if len(der) > MaxCertificatePEMSize {
		return nil, imprint.Errorf(imprint.TooLarge, "%s is larger than %d bytes", field, MaxCertificatePEMSize)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "%s is not a valid X.509 certificate: %v", field, err)
	}
	return cert, nil
}

// CheckExternalCA checks that cert can be registered as a customer's CA at
// now: a CA certificate (basicConstraints cA TRUE, RFC 5280 4.2.1.9) whose
// keyUsage, when present, includes keyCertSign (4.2.1.3; a certificate
// without the extension may sign certificates, as path validation has it),
// with a key Imprint accepts (ECDSA P-256 or P-384, Ed25519, RSA of 2048,
// 3072 or 4096 bits), and valid at now. It returns the key type. Returns
// Invalid saying what is wrong.
func CheckExternalCA(cert *x509.Certificate, now time.Time) (imprint.KeyType, error) {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return "", imprint.Errorf(imprint.Invalid, "caCertificatePem is not a CA certificate: it lacks basicConstraints with CA:TRUE")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return "", imprint.Errorf(imprint.Invalid, "caCertificatePem is not a CA certificate: its keyUsage lacks keyCertSign")
	}
	kt, err := KeyTypeOf(cert.PublicKey)
	if err != nil {
		return "", imprint.Errorf(imprint.Invalid, "caCertificatePem: %s", imprint.ErrorMessage(err))
	}
	if err := checkValidity("caCertificatePem", cert, now); err != nil {
		return "", err
	}
	return kt, nil
}

// CheckVerificationCertificate checks the proof that whoever registers the
// CA caCert holds its key: ver's subject common name is code (the
// installation's registration code, compared in constant time and in any
// case), ver is signed by caCert's key, and ver is valid at now. Returns
// Invalid saying which check failed.
func CheckVerificationCertificate(caCert, ver *x509.Certificate, code string, now time.Time) error {
	cn := strings.ToLower(ver.Subject.CommonName)
	if code == "" || subtle.ConstantTimeCompare([]byte(cn), []byte(strings.ToLower(code))) != 1 {
		return imprint.Errorf(imprint.Invalid,
			"verificationCertificatePem: its subject common name is not the current registration code (GET /v1/registration-code)")
	}
	if err := ver.CheckSignatureFrom(caCert); err != nil {
		return imprint.Errorf(imprint.Invalid, "verificationCertificatePem is not signed by the key of caCertificatePem: %v", err)
	}
	return checkValidity("verificationCertificatePem", ver, now)
}

// CheckRegisteredCertificate checks that cert, a device certificate signed
// elsewhere, can be registered under the CA c whose certificate is caCert:
// c signed it directly (its issuer name is c's subject and c's key verifies
// its signature), it is not a CA certificate, its key is of a type Imprint
// accepts, and it is valid at now. It returns the certificate as Record
// makes it, without a status. Returns Invalid saying what is wrong.
func CheckRegisteredCertificate(cert *x509.Certificate, c *imprint.CA, caCert *x509.Certificate, now time.Time) (imprint.Certificate, error) {
	if !bytes.Equal(cert.RawIssuer, caCert.RawSubject) {
		return imprint.Certificate{}, imprint.Errorf(imprint.Invalid, "certificate was not issued by CA %s: its issuer name is not the CA's subject", c.ID)
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return imprint.Certificate{}, imprint.Errorf(imprint.Invalid, "certificate is not signed by CA %s: %v", c.ID, err)
	}
	if cert.BasicConstraintsValid && cert.IsCA {
		return imprint.Certificate{}, imprint.Errorf(imprint.Invalid, "certificate is a CA certificate; register a CA with POST /v1/cas:register")
	}
	if _, err := KeyTypeOf(cert.PublicKey); err != nil {
		return imprint.Certificate{}, imprint.Errorf(imprint.Invalid, "certificate: %s", imprint.ErrorMessage(err))
	}
	if err := checkValidity("certificate", cert, now); err != nil {
		return imprint.Certificate{}, err
	}
	return Record(cert, c.ID, "")
}

// IssuerCandidates returns the CAs of cas (with their parsed certificates in
// certs, by index) whose subject is cert's issuer name, the ones a device
// certificate may be registered under. The root is never one: it signs
// issuing CAs only.
func IssuerCandidates(cert *x509.Certificate, cas []*imprint.CA, certs []*x509.Certificate) []int {
	var out []int
	for i, c := range cas {
		if c.Role != imprint.CARoot && certs[i] != nil && bytes.Equal(cert.RawIssuer, certs[i].RawSubject) {
			out = append(out, i)
		}
	}
	return out
}

// checkValidity returns Invalid naming field unless now is within cert's
// validity period (RFC 5280 4.1.2.5).
func checkValidity(field string, cert *x509.Certificate, now time.Time) error {
	switch {
	case now.Before(cert.NotBefore):
		return imprint.Errorf(imprint.Invalid, "%s is not valid yet: its validity starts at %s",
			field, cert.NotBefore.UTC().Format(time.RFC3339))
	case now.After(cert.NotAfter):
		return imprint.Errorf(imprint.Invalid, "%s has expired: its validity ended at %s",
			field, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// NewExternalCA returns the CA record of a customer's CA certificate that
// CheckExternalCA accepted, of key type kt: role external, no key URI, the
// status, auto-registration and JITP template given, and the name given or
// "external-" and the start of its ID.
func NewExternalCA(cert *x509.Certificate, kt imprint.KeyType, name string, status imprint.CAStatus,
	autoRegistration bool, template string) *imprint.CA {
	id := certificateID(cert.Raw)
	if name == "" {
		name = "external-" + id[:16]
	}
	return &imprint.CA{
		ID: id, Name: name, Role: imprint.CAExternal, Status: status, Subject: CertificateSubject(cert),
		CommonName: cert.Subject.CommonName, Serial: cert.SerialNumber.Text(16), KeyAlgorithm: kt,
		DER: cert.Raw, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		ProvisioningTemplate: template, AutoRegistration: autoRegistration,
	}
}

// ValidateCAName returns Invalid unless name is 1 to 64 letters, digits,
// '-', '_' and '.'.
func ValidateCAName(name string) error { return validateCAName(name) }
