package ca

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"time"

	casapi "github.com/smallstep/certificates/cas/apiv1"

	"github.com/imprint-iot/imprint"
)

// Limits on CSRs.
const (
	MaxCSRSize = 16 << 10 // bytes of PEM or DER
	MaxSANs    = 32
)

// ParseCSR parses a PKCS#10 certificate request (RFC 2986) given as PEM (a
// CERTIFICATE REQUEST block) or DER. It does not check the signature; Issue
// does. Returns Invalid with the reason for anything malformed.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) == 0 {
		return nil, imprint.Errorf(imprint.Invalid, "csr is empty")
	}
	if len(data) > MaxCSRSize {
		return nil, imprint.Errorf(imprint.TooLarge, "csr is larger than %d bytes", MaxCSRSize)
	}
	der := data
	if block, rest := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, imprint.Errorf(imprint.Invalid, "csr: PEM block is %q, want CERTIFICATE REQUEST", block.Type)
		}
		if next, _ := pem.Decode(rest); next != nil {
			return nil, imprint.Errorf(imprint.Invalid, "csr: more than one PEM block")
		}
		der = block.Bytes
	} else if data[0] != 0x30 { // not a DER SEQUENCE either
		return nil, imprint.Errorf(imprint.Invalid, "csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "csr is malformed: %v", err)
	}
	return csr, nil
}

// IssueRequest asks for a device certificate.
type IssueRequest struct {
	CSR *x509.CertificateRequest
	// CAID names the issuing CA; the oldest active issuing CA if empty.
	CAID string
	// ValidityDays is the certificate's lifetime; the CA profile's if 0. It
	// may not exceed the profile's, and never outlives the CA.
	ValidityDays int
	// Status of the new certificate; ACTIVE if empty.
	Status imprint.CertificateStatus
}

// Issued is a newly signed certificate, not yet recorded.
type Issued struct {
	Certificate imprint.Certificate
	PEM         []byte
	ChainPEM    []byte // the issuing CA up to the root
}

// Issue checks req.CSR (signature, key type and size, subject, names)
// against the issuing CA's profile and signs it. The certificate's subject
// is the CSR's, byte for byte, once every attribute has passed: a type of
// the accepted set (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER,
// title, dnQualifier, SN, GN, initials, pseudonym, generationQualifier, DC,
// emailAddress), a non-empty string value without control characters, and
// for every CN the profile's length and pattern. It does not record the
// certificate: the caller stores it with its audit event before handing it
// out. Returns Invalid for a bad CSR, a request or names the profile
// refuses, Forbidden for a subject attribute type outside the accepted set,
// NotFound for an unknown CA and Conflict for an inactive one.
func (a *Authority) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	iss, err := a.issuer(req.CAID)
	if err != nil {
		return nil, err
	}
	keyType, cn, err := checkCSR(iss, req.CSR)
	if err != nil {
		return nil, err
	}
	days := iss.ca.Profile.ValidityDays
	if req.ValidityDays != 0 {
		if req.ValidityDays < 0 || req.ValidityDays > days {
			return nil, imprint.Errorf(imprint.Invalid, "validityDays must be between 1 and %d for CA %s", days, iss.ca.Name)
		}
		days = req.ValidityDays
	}
	status := req.Status
	if status == "" {
		status = imprint.CertificateActive
	}
	now := time.Now().UTC().Truncate(time.Second)
	notBefore := now.Add(-time.Minute) // tolerate device clocks a little behind
	notAfter := now.Add(time.Duration(days) * 24 * time.Hour)
	if notAfter.After(iss.cert.NotAfter) {
		notAfter = iss.cert.NotAfter
	}
	// The one check of the CSR's signature, after the cheap checks of the
	// profile: it proves the requester holds the key the certificate names.
	if err := req.CSR.CheckSignature(); err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "csr signature does not verify")
	}
	resp, err := iss.cas.CreateCertificate(&casapi.CreateCertificateRequest{
		Template: leafTemplate(iss, req.CSR, notBefore, notAfter), CSR: req.CSR, Lifetime: notAfter.Sub(notBefore)})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	leaf := resp.Certificate
	c := imprint.Certificate{
		ID: certificateID(leaf.Raw), Serial: fmt.Sprintf("%x", leaf.SerialNumber), CAID: iss.ca.ID,
		Subject: Subject(req.CSR), CommonName: cn, SANs: sanList(leaf),
		KeyAlgorithm: keyType, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Status: status,
		DER: leaf.Raw, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}
	c.UpdatedAt = c.CreatedAt
	return &Issued{
		Certificate: c,
		PEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}),
		ChainPEM:    iss.chainPEM,
	}, nil
}

// CanIssue returns nil if the CA with the given ID ("" for the default) can
// issue device certificates now, and otherwise the error Issue would return:
// NotFound, Invalid for the root, Conflict for an inactive CA.
func (a *Authority) CanIssue(caID string) error {
	_, err := a.issuer(caID)
	return err
}

func (a *Authority) issuer(caID string) (*issuer, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if caID == "" {
		if iss := a.defaultIssuer(); iss != nil {
			return iss, nil
		}
		return nil, imprint.Errorf(imprint.Unavailable, "no active issuing CA")
	}
	iss, ok := a.issuers[caID]
	if !ok {
		switch c, ok := a.cas[caID]; {
		case ok && c.Role == imprint.CARoot:
			return nil, imprint.Errorf(imprint.Invalid, "CA %s is the root; it signs issuing CAs, not devices", caID)
		case ok && c.Role == imprint.CAExternal:
			return nil, imprint.Errorf(imprint.Invalid, "CA %s is external; Imprint does not hold its key", caID)
		case ok:
			return nil, imprint.Errorf(imprint.Unavailable, "the key of CA %s is not loaded on this server", caID)
		}
		return nil, imprint.Errorf(imprint.NotFound, "CA %s not found", caID)
	}
	if iss.ca.Status != imprint.CAActive {
		return nil, imprint.Errorf(imprint.Conflict, "CA %s is %s and issues nothing", caID, iss.ca.Status)
	}
	return iss, nil
}

// checkCSR applies the issuing CA's profile to csr and returns its key type
// and its first common name.
func checkCSR(iss *issuer, csr *x509.CertificateRequest) (imprint.KeyType, string, error) {
	if csr == nil {
		return "", "", imprint.Errorf(imprint.Invalid, "csr is required")
	}
	kt, err := KeyTypeOf(csr.PublicKey)
	if err != nil {
		return "", "", err
	}
	if weakSignature(csr.SignatureAlgorithm) {
		return "", "", imprint.Errorf(imprint.Invalid, "csr is signed with %v; SHA-1 and MD5 signatures are refused (sign with SHA-256 or stronger)",
			csr.SignatureAlgorithm)
	}
	p := iss.ca.Profile
	if !slices.Contains(p.KeyTypes, kt) {
		return "", "", imprint.Errorf(imprint.Invalid, "key type %s is not allowed by CA %s (allowed: %v)", kt, iss.ca.Name, p.KeyTypes)
	}
	cn, err := checkSubject(iss, csr)
	if err != nil {
		return "", "", err
	}
	return kt, cn, checkSANs(p, csr)
}

func checkCommonName(iss *issuer, cn string) error {
	switch {
	case cn == "":
		return imprint.Errorf(imprint.Invalid, "csr has no subject common name")
	case len(cn) > imprint.MaxCommonNameLength:
		return imprint.Errorf(imprint.Invalid, "csr common name is longer than %d characters", imprint.MaxCommonNameLength)
	case !printable(cn):
		return imprint.Errorf(imprint.Invalid, "csr common name holds control characters, bidirectional formatting characters or invalid UTF-8")
	case iss.cnRE != nil && !iss.cnRE.MatchString(cn):
		// A well-formed subject the CA's profile does not allow: the request
		// is understood and refused (Forbidden), as an attribute type the
		// profile does not accept is.
		return imprint.Errorf(imprint.Forbidden, "common name %q does not match the pattern %q of CA %s",
			cn, iss.ca.Profile.CommonNamePattern, iss.ca.Name)
	}
	return nil
}

func checkSANs(p imprint.IssuanceProfile, csr *x509.CertificateRequest) error {
	counts := map[string]int{
		imprint.SANDNS: len(csr.DNSNames), imprint.SANIP: len(csr.IPAddresses),
		imprint.SANURI: len(csr.URIs), imprint.SANEmail: len(csr.EmailAddresses),
	}
	total := 0
	for typ, n := range counts {
		total += n
		if n > 0 && !slices.Contains(p.SANTypes, typ) {
			return imprint.Errorf(imprint.Invalid, "csr has %s SANs, which the CA does not allow (allowed: %v)", typ, p.SANTypes)
		}
	}
	if total > MaxSANs {
		return imprint.Errorf(imprint.Invalid, "csr has %d SANs, more than %d", total, MaxSANs)
	}
	for _, n := range csr.DNSNames {
		if n == "" || len(n) > 253 || !printable(n) {
			return imprint.Errorf(imprint.Invalid, "csr has a malformed DNS name")
		}
	}
	return nil
}

// leafTemplate is the template of every device certificate: the CA's
// profile, keeping of the CSR only the subject, the SANs and the public key
// (RFC 5280 4.2); nothing else a CSR asks for is granted. The subject is the
// CSR's DER as checkSubject accepted it: RawSubject takes precedence over
// Subject when x509.CreateCertificate encodes it.
func leafTemplate(iss *issuer, csr *x509.CertificateRequest, notBefore, notAfter time.Time) *x509.Certificate {
	ku := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		ku |= x509.KeyUsageKeyEncipherment
	}
	return &x509.Certificate{
		SerialNumber:          randomSerial(),
		RawSubject:            csr.RawSubject,
		Subject:               csr.Subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		PublicKey:             csr.PublicKey,
		PublicKeyAlgorithm:    csr.PublicKeyAlgorithm,
		KeyUsage:              ku,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		URIs:                  csr.URIs,
		EmailAddresses:        csr.EmailAddresses,
		CRLDistributionPoints: []string{iss.urls.crl},
		OCSPServer:            []string{iss.urls.ocsp},
		IssuingCertificateURL: []string{iss.urls.caIssuer},
	}
}

func sanList(c *x509.Certificate) []string {
	out := make([]string, 0, len(c.DNSNames)+len(c.IPAddresses)+len(c.URIs)+len(c.EmailAddresses))
	for _, n := range c.DNSNames {
		out = append(out, "dns:"+n)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "ip:"+ip.String())
	}
	for _, u := range c.URIs {
		out = append(out, "uri:"+u.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	return out
}

// printable reports whether s is text fit for a certificate's names: see
// imprint.SafeText.
func printable(s string) bool { return imprint.SafeText(s) }

// weakSignature reports whether a CSR's signature algorithm hashes with
// MD2, MD5 or SHA-1, whose collisions let a signature be reused (RFC 6194).
func weakSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}
