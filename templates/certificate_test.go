package templates

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"maps"
	"strings"
	"testing"
)

func TestCertificateParameters(t *testing.T) {
	subject := pkix.Name{
		CommonName:         "device-7",
		SerialNumber:       "SN7",
		Country:            []string{"FR"},
		Organization:       []string{"Acme"},
		OrganizationalUnit: []string{"Sensors"},
		Province:           []string{"Bretagne"},
		Locality:           []string{"Rennes"},
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidDNQualifier, Value: "q1"},
			{Type: oidTitle, Value: "Probe"},
			{Type: oidSurname, Value: "Doe"},
			{Type: oidGivenName, Value: "Jane"},
			{Type: oidInitials, Value: "JD"},
			{Type: oidPseudonym, Value: "jd"},
			{Type: oidGenerationQualifier, Value: "III"},
		},
	}
	cert := mustCertificate(t, certOptions{
		subject: subject,
		dns:     []string{"d7.example.com", "d7.example.net"},
		emails:  []string{"ops@example.com"},
		uris:    []string{"urn:dev:7", "https://example.com/a,b"},
		ips:     []string{"192.0.2.7"},
		serial:  0xabcdef,
	})
	sum := sha256.Sum256(cert.Raw)
	want := map[string]string{
		ParamCountry:                    "FR",
		ParamOrganization:               "Acme",
		ParamOrganizationalUnit:         "Sensors",
		ParamDistinguishedNameQualifier: "q1",
		ParamStateName:                  "Bretagne",
		ParamCommonName:                 "device-7",
		ParamSerialNumber:               "SN7",
		ParamCertificateID:              hex.EncodeToString(sum[:]),
		ParamLocality:                   "Rennes",
		ParamTitle:                      "Probe",
		ParamSurname:                    "Doe",
		ParamGivenName:                  "Jane",
		ParamInitials:                   "JD",
		ParamPseudonym:                  "jd",
		ParamGenerationQualifier:        "III",
		ParamSerialNumberHex:            "abcdef",
		ParamDNSName:                    "d7.example.com",
		ParamDNSNames:                   "d7.example.com,d7.example.net",
		ParamEmailAddress:               "ops@example.com",
		ParamEmailAddresses:             "ops@example.com",
		ParamURI:                        "urn:dev:7",
		ParamURIs:                       "urn:dev:7,https://example.com/a%2Cb",
		ParamIPAddress:                  "192.0.2.7",
		ParamIPAddresses:                "192.0.2.7",
		ParamIssuerCommonName:           "Imprint Test CA",
		ParamIssuerOrganization:         "Imprint Test",
		ParamIssuerCountry:              "DE",
	}
	got := CertificateParameters(cert)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("CertificateParameters()[%s] = %q, want %q", name, got[name], w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("CertificateParameters() has %s = %q, want none", name, got[name])
		}
	}
	for name := range maps.Keys(certParamInfo) {
		if _, ok := want[name]; !ok && name != ParamIssuerOrganizationalUnit {
			t.Errorf("test does not cover %s", name)
		}
	}
}

func TestCertificateParametersMinimal(t *testing.T) {
	cert := mustCertificate(t, certOptions{subject: pkix.Name{CommonName: "only-cn"}})
	got := CertificateParameters(cert)
	for name := range got {
		switch name {
		case ParamCommonName, ParamCertificateID, ParamSerialNumberHex, ParamIssuerCommonName, ParamIssuerOrganization, ParamIssuerCountry:
		default:
			t.Errorf("CertificateParameters() has %s = %q, want it left out", name, got[name])
		}
	}
	if id := got[ParamCertificateID]; len(id) != 64 || strings.ToLower(id) != id {
		t.Errorf("CertificateParameters() ID = %q, want 64 lowercase hex digits", id)
	}
}

// TestCertificateExtensionsInJITP evaluates a JITP template using the
// Imprint::Certificate::* parameters, list forms included.
func TestCertificateExtensionsInJITP(t *testing.T) {
	const body = `{"Resources": {
		"thing": {"Type": "AWS::IoT::Thing", "Properties": {
			"ThingName": {"Fn::Sub": "${AWS::IoT::Certificate::CommonName}_${Imprint::Certificate::SerialNumberHex}"},
			"AttributePayload": {
				"site": {"Ref": "Imprint::Certificate::Locality"},
				"host": {"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "Imprint::Certificate::SAN::DNSNames"}]}]},
				"uri": {"Ref": "Imprint::Certificate::SAN::URI"},
				"mail": {"Ref": "Imprint::Certificate::SAN::EmailAddress"}}}},
		` + okCert + `}}`
	cert := mustCertificate(t, certOptions{
		subject: pkix.Name{CommonName: "dev", Locality: []string{"Lyon"}},
		dns:     []string{"a.example", "b.example"},
		uris:    []string{"urn:x:1"},
		emails:  []string{"x@example.com"},
		serial:  255,
	})
	p := mustEvaluate(t, mustParse(t, body, Options{Type: JITP}), Input{Certificate: CertificateParameters(cert)})
	if p.Thing.Name != "dev_ff" {
		t.Errorf("Evaluate() thing name = %q, want dev_ff", p.Thing.Name)
	}
	want := map[string]string{"site": "Lyon", "host": "b.example", "uri": "urn:x:1", "mail": "x@example.com"}
	if !maps.Equal(p.Thing.Attributes, want) {
		t.Errorf("Evaluate() attributes = %v, want %v", p.Thing.Attributes, want)
	}
}

// TestCertificateParametersFirstValue reads a subject with two common names
// and two subject serial numbers: the parameters take the first of each.
func TestCertificateParametersFirstValue(t *testing.T) {
	cn, serial := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 5}
	cert := mustCertificate(t, certOptions{subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: cn, Value: "device-1"}, {Type: serial, Value: "S1"},
		{Type: cn, Value: "device-1-alias"}, {Type: serial, Value: "S2"},
	}}})
	got := CertificateParameters(cert)
	if got[ParamCommonName] != "device-1" || got[ParamSerialNumber] != "S1" {
		t.Errorf("CertificateParameters() CommonName, SerialNumber = %q, %q, want the first values device-1, S1",
			got[ParamCommonName], got[ParamSerialNumber])
	}
}
