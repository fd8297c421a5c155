package templates

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
)

// The certificate-derived parameters that AWS IoT defines for JITP
// templates. ParamCertificateID is also the one certificate parameter of
// fleet provisioning and registration templates.
const (
	ParamCountry                    = "AWS::IoT::Certificate::Country"                    // subject C
	ParamOrganization               = "AWS::IoT::Certificate::Organization"               // subject O
	ParamOrganizationalUnit         = "AWS::IoT::Certificate::OrganizationalUnit"         // subject OU
	ParamDistinguishedNameQualifier = "AWS::IoT::Certificate::DistinguishedNameQualifier" // subject dnQualifier
	ParamStateName                  = "AWS::IoT::Certificate::StateName"                  // subject ST
	ParamCommonName                 = "AWS::IoT::Certificate::CommonName"                 // subject CN
	ParamSerialNumber               = "AWS::IoT::Certificate::SerialNumber"               // subject serialNumber attribute (OID 2.5.4.5)
	ParamCertificateID              = "AWS::IoT::Certificate::Id"                         // lowercase hex SHA-256 of the DER
)

// The certificate-derived parameters that Imprint adds for JITP templates,
// named Imprint::Certificate::* so that they can never collide with a name
// AWS IoT defines. A plural SAN name holds every value of that type joined
// by commas (a comma inside a value is written %2C); the singular holds the
// first.
const (
	ParamLocality                 = "Imprint::Certificate::Locality"                   // subject L
	ParamTitle                    = "Imprint::Certificate::Title"                      // subject title
	ParamSurname                  = "Imprint::Certificate::Surname"                    // subject SN
	ParamGivenName                = "Imprint::Certificate::GivenName"                  // subject GN
	ParamInitials                 = "Imprint::Certificate::Initials"                   // subject initials
	ParamPseudonym                = "Imprint::Certificate::Pseudonym"                  // subject pseudonym
	ParamGenerationQualifier      = "Imprint::Certificate::GenerationQualifier"        // subject generationQualifier
	ParamSerialNumberHex          = "Imprint::Certificate::SerialNumberHex"            // the certificate's serial number, lowercase hex
	ParamDNSName                  = "Imprint::Certificate::SAN::DNSName"               // first SAN DNS name
	ParamDNSNames                 = "Imprint::Certificate::SAN::DNSNames"              // every SAN DNS name
	ParamURI                      = "Imprint::Certificate::SAN::URI"                   // first SAN URI
	ParamURIs                     = "Imprint::Certificate::SAN::URIs"                  // every SAN URI
	ParamEmailAddress             = "Imprint::Certificate::SAN::EmailAddress"          // first SAN e-mail address
	ParamEmailAddresses           = "Imprint::Certificate::SAN::EmailAddresses"        // every SAN e-mail address
	ParamIPAddress                = "Imprint::Certificate::SAN::IPAddress"             // first SAN IP address
	ParamIPAddresses              = "Imprint::Certificate::SAN::IPAddresses"           // every SAN IP address
	ParamIssuerCommonName         = "Imprint::Certificate::Issuer::CommonName"         // issuer CN
	ParamIssuerOrganization       = "Imprint::Certificate::Issuer::Organization"       // issuer O
	ParamIssuerOrganizationalUnit = "Imprint::Certificate::Issuer::OrganizationalUnit" // issuer OU
	ParamIssuerCountry            = "Imprint::Certificate::Issuer::Country"            // issuer C
	awsCertPrefix                 = "AWS::IoT::Certificate::"
	extensionCertPrefix           = "Imprint::Certificate::"
	noValue                       = "AWS::NoValue"
)

// certParamInfo describes each certificate-derived parameter for messages.
var certParamInfo = map[string]string{
	ParamCountry:                    "subject country (C)",
	ParamOrganization:               "subject organization (O)",
	ParamOrganizationalUnit:         "subject organizational unit (OU)",
	ParamDistinguishedNameQualifier: "subject distinguished name qualifier (dnQualifier)",
	ParamStateName:                  "subject state or province (ST)",
	ParamCommonName:                 "subject common name (CN)",
	ParamSerialNumber:               "subject serialNumber attribute",
	ParamCertificateID:              "certificate ID",
	ParamLocality:                   "subject locality (L)",
	ParamTitle:                      "subject title",
	ParamSurname:                    "subject surname (SN)",
	ParamGivenName:                  "subject given name (GN)",
	ParamInitials:                   "subject initials",
	ParamPseudonym:                  "subject pseudonym",
	ParamGenerationQualifier:        "subject generation qualifier",
	ParamSerialNumberHex:            "serial number",
	ParamDNSName:                    "DNS name in its subject alternative names",
	ParamDNSNames:                   "DNS name in its subject alternative names",
	ParamURI:                        "URI in its subject alternative names",
	ParamURIs:                       "URI in its subject alternative names",
	ParamEmailAddress:               "e-mail address in its subject alternative names",
	ParamEmailAddresses:             "e-mail address in its subject alternative names",
	ParamIPAddress:                  "IP address in its subject alternative names",
	ParamIPAddresses:                "IP address in its subject alternative names",
	ParamIssuerCommonName:           "issuer common name (CN)",
	ParamIssuerOrganization:         "issuer organization (O)",
	ParamIssuerOrganizationalUnit:   "issuer organizational unit (OU)",
	ParamIssuerCountry:              "issuer country (C)",
}

// isCertParamName reports whether name is in a namespace reserved for
// certificate-derived parameters.
func isCertParamName(name string) bool {
	return strings.HasPrefix(name, awsCertPrefix) || strings.HasPrefix(name, extensionCertPrefix)
}

// unknownCertParam explains that name is not a certificate-derived
// parameter, pointing at the Imprint extension AWS users look for.
func unknownCertParam(name string) string {
	msg := quote(name) + " is not a certificate-derived parameter"
	field := name[strings.LastIndex(name, "::")+2:]
	if strings.HasPrefix(name, awsCertPrefix) {
		if _, ok := certParamInfo[extensionCertPrefix+field]; ok {
			return msg + "; AWS IoT does not define it, Imprint offers " + quote(extensionCertPrefix+field)
		}
		return msg + "; AWS IoT defines Country, Organization, OrganizationalUnit, DistinguishedNameQualifier, StateName, CommonName, SerialNumber and Id"
	}
	return msg + "; see the Imprint::Certificate::* parameters in the templates documentation"
}

// OIDs of subject attributes that crypto/x509 does not parse into fields,
// or parses into a string field that keeps only the last value.
var (
	oidCommonName          = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber        = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidDNQualifier         = asn1.ObjectIdentifier{2, 5, 4, 46}
	oidTitle               = asn1.ObjectIdentifier{2, 5, 4, 12}
	oidSurname             = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidGivenName           = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidInitials            = asn1.ObjectIdentifier{2, 5, 4, 43}
	oidPseudonym           = asn1.ObjectIdentifier{2, 5, 4, 65}
	oidGenerationQualifier = asn1.ObjectIdentifier{2, 5, 4, 44}
)

// CertificateParameters returns the certificate-derived parameters of cert
// for a JITP evaluation: the eight AWS IoT defines and Imprint's
// extensions. A field the certificate lacks is left out; of a field with
// several values, the first is taken. AWS::IoT::Certificate::Id is the
// lowercase hex SHA-256 of cert.Raw.
func CertificateParameters(cert *x509.Certificate) map[string]string {
	m := make(map[string]string, 16)
	set := func(name, v string) {
		if v != "" {
			m[name] = v
		}
	}
	sum := sha256.Sum256(cert.Raw)
	m[ParamCertificateID] = hex.EncodeToString(sum[:])
	s := cert.Subject
	set(ParamCountry, first(s.Country))
	set(ParamOrganization, first(s.Organization))
	set(ParamOrganizationalUnit, first(s.OrganizationalUnit))
	set(ParamStateName, first(s.Province))
	set(ParamCommonName, attribute(s, oidCommonName)) // s.CommonName is the last
	set(ParamSerialNumber, attribute(s, oidSerialNumber))
	set(ParamDistinguishedNameQualifier, attribute(s, oidDNQualifier))
	set(ParamLocality, first(s.Locality))
	set(ParamTitle, attribute(s, oidTitle))
	set(ParamSurname, attribute(s, oidSurname))
	set(ParamGivenName, attribute(s, oidGivenName))
	set(ParamInitials, attribute(s, oidInitials))
	set(ParamPseudonym, attribute(s, oidPseudonym))
	set(ParamGenerationQualifier, attribute(s, oidGenerationQualifier))
	if cert.SerialNumber != nil {
		set(ParamSerialNumberHex, cert.SerialNumber.Text(16))
	}
	sans(m, ParamDNSName, ParamDNSNames, cert.DNSNames)
	sans(m, ParamEmailAddress, ParamEmailAddresses, cert.EmailAddresses)
	uris := make([]string, len(cert.URIs))
	for i, u := range cert.URIs {
		uris[i] = u.String()
	}
	sans(m, ParamURI, ParamURIs, uris)
	ips := make([]string, len(cert.IPAddresses))
	for i, ip := range cert.IPAddresses {
		ips[i] = ip.String()
	}
	sans(m, ParamIPAddress, ParamIPAddresses, ips)
	set(ParamIssuerCommonName, cert.Issuer.CommonName)
	set(ParamIssuerOrganization, first(cert.Issuer.Organization))
	set(ParamIssuerOrganizationalUnit, first(cert.Issuer.OrganizationalUnit))
	set(ParamIssuerCountry, first(cert.Issuer.Country))
	return m
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// attribute returns the first value of the subject attribute oid.
func attribute(name pkix.Name, oid asn1.ObjectIdentifier) string {
	for _, atv := range name.Names {
		if atv.Type.Equal(oid) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
			return fmt.Sprint(atv.Value)
		}
	}
	return ""
}

// sans sets the singular and the plural parameter of one type of subject
// alternative name.
func sans(m map[string]string, one, all string, values []string) {
	if len(values) == 0 {
		return
	}
	if values[0] != "" {
		m[one] = values[0]
	}
	escaped := make([]string, len(values))
	for i, v := range values {
		escaped[i] = strings.ReplaceAll(v, ",", "%2C")
	}
	if s := strings.Join(escaped, ","); s != "" {
		m[all] = s
	}
}
