package ca

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/imprint-iot/imprint"
)

// A device certificate's subject is the CSR's, byte for byte: the same
// attributes in the same relative distinguished names (RFC 5280 section
// 4.1.2.4), in the same order, with the same string types. Issue checks every
// attribute first; these are the types it accepts, named as in the subject
// strings Imprint records.
var (
	// x520Names are the short names of the accepted attribute types under
	// 2.5.4 (X.520, RFC 4519), by their last arc; "" is not accepted.
	x520Names = [...]string{
		3:  "CN",           // commonName
		4:  "SN",           // surname
		5:  "SERIALNUMBER", // serialNumber
		6:  "C",            // countryName
		7:  "L",            // localityName
		8:  "ST",           // stateOrProvinceName
		9:  "STREET",       // streetAddress
		10: "O",            // organizationName
		11: "OU",           // organizationalUnitName
		12: "title",
		17: "POSTALCODE", // postalCode
		42: "GN",         // givenName
		43: "initials",
		44: "generationQualifier",
		46: "dnQualifier",
		65: "pseudonym",
	}
	oidDomainComponent = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25} // RFC 4519
	oidEmailAddress    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}       // RFC 2985
)

const cnArc = 3 // commonName is 2.5.4.3

// allowedSubjectAttributes lists the accepted types for error messages.
const allowedSubjectAttributes = "C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER, title, dnQualifier, " +
	"SN, GN, initials, pseudonym, generationQualifier, DC, emailAddress"

// subjectAttributeName returns the short name of the subject attribute type
// oid, or false if a device certificate may not carry it.
func subjectAttributeName(oid asn1.ObjectIdentifier) (string, bool) {
	if isX520(oid) {
		if n := oid[3]; n >= 0 && n < len(x520Names) && x520Names[n] != "" {
			return x520Names[n], true
		}
		return "", false
	}
	switch {
	case oid.Equal(oidDomainComponent):
		return "DC", true
	case oid.Equal(oidEmailAddress):
		return "emailAddress", true
	}
	return "", false
}

func isX520(oid asn1.ObjectIdentifier) bool {
	return len(oid) == 4 && oid[0] == 2 && oid[1] == 5 && oid[2] == 4
}

// checkSubject applies the profile to every attribute of csr's subject and
// returns the first common name, the certificate's. Every attribute must be
// of an accepted type and hold a non-empty string without control
// characters; every common name must pass checkCommonName. Returns Forbidden
// for an attribute type the CA does not accept, Invalid for the rest.
func checkSubject(iss *issuer, csr *x509.CertificateRequest) (string, error) {
	var cn string
	for _, atv := range csr.Subject.Names {
		name, ok := subjectAttributeName(atv.Type)
		if !ok {
			return "", imprint.Errorf(imprint.Forbidden, "csr subject attribute %s is not allowed by CA %s (allowed: %s)",
				atv.Type, iss.ca.Name, allowedSubjectAttributes)
		}
		v, ok := atv.Value.(string)
		switch {
		case !ok:
			return "", imprint.Errorf(imprint.Invalid, "csr subject attribute %s (%s) is not a string", name, atv.Type)
		case isX520(atv.Type) && atv.Type[3] == cnArc:
			if err := checkCommonName(iss, v); err != nil {
				return "", err
			}
			if cn == "" {
				cn = v
			}
		case v == "":
			return "", imprint.Errorf(imprint.Invalid, "csr subject attribute %s is empty", name)
		case !printable(v):
			return "", imprint.Errorf(imprint.Invalid, "csr subject attribute %s holds control characters, bidirectional formatting characters or invalid UTF-8", name)
		}
	}
	if cn == "" {
		return "", imprint.Errorf(imprint.Invalid, "csr has no subject common name")
	}
	return cn, nil
}

// Subject returns csr's subject as Issue records it in
// imprint.Certificate.Subject: the string form of RFC 4514 section 2, last
// relative distinguished name first, the attributes of a multi-valued one
// joined by "+", with the short names CN, SN, SERIALNUMBER, C, L, ST,
// STREET, O, OU, title, POSTALCODE, GN, initials, generationQualifier,
// dnQualifier, pseudonym, DC and emailAddress, and the dotted OID for other
// types. Unlike pkix.Name's String it keeps every value, the order and the
// grouping. For a subject of the attributes pkix.Name has fields for, in
// the order it writes them, the two strings are the same.
func Subject(csr *x509.CertificateRequest) string {
	return subjectString(csr.Subject, csr.RawSubject)
}

// CertificateSubject returns cert's subject in the form Subject gives.
func CertificateSubject(cert *x509.Certificate) string {
	return subjectString(cert.Subject, cert.RawSubject)
}

func subjectString(subject pkix.Name, raw []byte) string {
	names := subject.Names
	sizes, ok := rdnSizes(raw, len(names), make([]int, 0, 16))
	if !ok {
		return subject.String()
	}
	var b strings.Builder
	b.Grow(len(raw))
	end := len(names)
	for i := len(sizes) - 1; i >= 0; i-- {
		if i < len(sizes)-1 {
			b.WriteByte(',')
		}
		start := end - sizes[i]
		for j, atv := range names[start:end] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAttribute(&b, atv)
		}
		end = start
	}
	return b.String()
}

// rdnSizes appends to sizes the number of attributes of each relative
// distinguished name of the DER RDNSequence raw, and reports false if raw
// is not one or does not hold want attributes in all.
func rdnSizes(raw []byte, want int, sizes []int) ([]int, bool) {
	in, total := cryptobyte.String(raw), 0
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, false
	}
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			return nil, false
		}
		n := 0
		for ; !set.Empty(); n++ {
			if !set.SkipASN1(cbasn1.SEQUENCE) {
				return nil, false
			}
		}
		sizes = append(sizes, n)
		total += n
	}
	return sizes, total == want
}

// writeAttribute writes type=value, escaping the value as RFC 4514 section
// 2.4 asks; a value that is not a string is written as the hex of its DER.
func writeAttribute(b *strings.Builder, atv pkix.AttributeTypeAndValue) {
	name, ok := subjectAttributeName(atv.Type)
	if !ok {
		name = atv.Type.String()
	}
	b.WriteString(name)
	b.WriteByte('=')
	v, ok := atv.Value.(string)
	if !ok {
		der, _ := asn1.Marshal(atv.Value)
		b.WriteByte('#')
		b.WriteString(hex.EncodeToString(der))
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(`,+"\<>;`, c) >= 0, c == ' ' && (i == 0 || i == len(v)-1), c == '#' && i == 0:
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}
