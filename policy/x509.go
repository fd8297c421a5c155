package policy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/netip"
)

// nameOIDs maps the distinguished name attributes, by index in nameFields,
// to their object identifiers (RFC 5280 appendix A, RFC 4519).
var nameOIDs = []asn1.ObjectIdentifier{
	{2, 5, 4, 3},  // CommonName
	{2, 5, 4, 6},  // Country
	{2, 5, 4, 10}, // Organization
	{2, 5, 4, 11}, // OrganizationalUnit
	{2, 5, 4, 7},  // Locality
	{2, 5, 4, 8},  // State
	{2, 5, 4, 5},  // SerialNumber
	{2, 5, 4, 46}, // DistinguishedNameQualifier
	{2, 5, 4, 12}, // Title
	{2, 5, 4, 4},  // Surname
	{2, 5, 4, 42}, // GivenName
	{2, 5, 4, 43}, // Initials
	{2, 5, 4, 65}, // Pseudonym
	{2, 5, 4, 44}, // GenerationQualifier
}

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidIssuerAltName  = asn1.ObjectIdentifier{2, 5, 29, 18}
)

// CertificateContext returns what policies may read of cert: its serial
// number in decimal, the attributes of its subject and issuer in
// certificate order, its subject and issuer alternative names, and the
// names of the variables that have values. Values that are not strings, and
// alternative names of other kinds (otherName, x400Address, ...), are left
// out.
func CertificateContext(cert *x509.Certificate) *Certificate {
	c := &Certificate{
		Subject: nameOf(cert.Subject),
		Issuer:  nameOf(cert.Issuer),
	}
	if cert.SerialNumber != nil {
		c.SerialNumber = cert.SerialNumber.String()
	}
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidSubjectAltName):
			c.Subject.AlternativeName = alternativeNames(ext.Value)
		case ext.Id.Equal(oidIssuerAltName):
			c.Issuer.AlternativeName = alternativeNames(ext.Value)
		}
	}
	c.AvailableKeys = computeAvailableKeys(c)
	return c
}

// nameOf returns the attributes of a distinguished name, in its order:
// n.Names holds every attribute of every RDN as parsed (crypto/x509 fills
// it from the RDNSequence, multi-valued RDNs in their SET order), unlike
// pkix.Name's fields, which keep the last CN and SERIALNUMBER only.
func nameOf(n pkix.Name) Name {
	var out Name
	for _, atv := range n.Names {
		v, ok := atv.Value.(string)
		if !ok {
			continue
		}
		for i, oid := range nameOIDs {
			if atv.Type.Equal(oid) {
				f := out.fieldPtr(uint8(i))
				*f = append(*f, v)
				break
			}
		}
	}
	return out
}

// alternativeNames parses the GeneralNames of a subjectAltName or
// issuerAltName extension (RFC 5280 section 4.2.1.6). A malformed extension
// gives the names parsed before the fault.
func alternativeNames(der []byte) AlternativeName {
	var out AlternativeName
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(der, &seq); err != nil || !seq.IsCompound || seq.Tag != asn1.TagSequence {
		return out
	}
	for rest := seq.Bytes; len(rest) > 0; {
		var v asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			break
		}
		if v.Class == asn1.ClassContextSpecific {
			out.add(v)
		}
	}
	return out
}

// add adds one GeneralName.
func (a *AlternativeName) add(v asn1.RawValue) {
	switch v.Tag {
	case 1:
		a.RFC822Name = append(a.RFC822Name, string(v.Bytes))
	case 2:
		a.DNSName = append(a.DNSName, string(v.Bytes))
	case 4:
		// The RDNs as they are, last first; pkix.Name would keep only the
		// last common name and reorder the rest.
		var rdns pkix.RDNSequence
		if rest, err := asn1.Unmarshal(v.Bytes, &rdns); err == nil && len(rest) == 0 {
			a.DirectoryName = append(a.DirectoryName, rdns.String())
		}
	case 6:
		a.UniformResourceIdentifier = append(a.UniformResourceIdentifier, string(v.Bytes))
	case 7:
		if ip, ok := netip.AddrFromSlice(v.Bytes); ok {
			a.IPAddress = append(a.IPAddress, ip.Unmap().String())
		}
	}
}
