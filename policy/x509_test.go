package policy

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"slices"
	"testing"
	"time"
)

// generalNames encodes a GeneralNames extension value (RFC 5280 section
// 4.2.1.6) with one name of each kind Imprint reads.
func generalNames(tb testing.TB, email, dns, uri string, ip []byte, dir pkix.Name) []byte {
	tb.Helper()
	rdns, err := asn1.Marshal(dir.ToRDNSequence())
	if err != nil {
		tb.Fatal(err)
	}
	names := []asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(email)},
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(dns)},
		{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: rdns},
		{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)},
		{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: ip},
		{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: []byte{0x2a, 0x03}}, // registeredID: left out
	}
	der, err := asn1.Marshal(names)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func attr(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}
}

// mustCertificate issues a device certificate like the example of AWS IoT's
// documentation, from a CA of its own.
func mustCertificate(tb testing.TB) *x509.Certificate {
	tb.Helper()
	caPub, caKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"US"}, Organization: []string{"IoT Devices"}, CommonName: "IoT Devices Primary CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, _ := new(big.Int).SetString("921285cbb7a5e086", 16)
	leaf := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			attr(nameOIDs[1], "US"), attr(nameOIDs[2], "IoT Devices"), attr(nameOIDs[2], "Example Corp"),
			attr(nameOIDs[3], "LightBulb"), attr(nameOIDs[5], "NY"), attr(nameOIDs[0], "LightBulb Device Cert"),
			attr(nameOIDs[10], "Bulb"), attr(nameOIDs[11], "ZZ"), attr(nameOIDs[7], "Bulb001"),
			attr(nameOIDs[9], "Multi Color"), attr(nameOIDs[8], "RGB"), attr(nameOIDs[12], "RGB Device"),
			attr(nameOIDs[13], "4"), attr(nameOIDs[6], "123"), attr(nameOIDs[4], "Seattle"),
		}},
		NotBefore: time.Now().Add(-time.Hour),
		NotAfter:  time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{
			{Id: oidSubjectAltName, Value: generalNames(tb, "device1@example.com", "example.com", "ResourceIdentifier001",
				[]byte{1, 2, 3, 4}, pkix.Name{Country: []string{"US"}, Organization: []string{"IoT"}, CommonName: "LightBulbCert"})},
			{Id: oidIssuerAltName, Value: generalNames(tb, "primary@issuer.com", "issuer.com", "PrimarySignerCA",
				[]byte{5, 6, 7, 8}, pkix.Name{Organization: []string{"Issuer"}, CommonName: "Primary Issuer CA"})},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, pub, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	_ = caPub
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

func TestCertificateContext(t *testing.T) {
	c := CertificateContext(mustCertificate(t))
	checks := []struct {
		field string
		got   []string
		want  []string
	}{
		{"SerialNumber", []string{c.SerialNumber}, []string{"10525622389124227206"}},
		{"Subject.CommonName", c.Subject.CommonName, []string{"LightBulb Device Cert"}},
		{"Subject.Country", c.Subject.Country, []string{"US"}},
		{"Subject.Organization", c.Subject.Organization, []string{"IoT Devices", "Example Corp"}},
		{"Subject.OrganizationalUnit", c.Subject.OrganizationalUnit, []string{"LightBulb"}},
		{"Subject.Locality", c.Subject.Locality, []string{"Seattle"}},
		{"Subject.State", c.Subject.State, []string{"NY"}},
		{"Subject.SerialNumber", c.Subject.SerialNumber, []string{"123"}},
		{"Subject.DistinguishedNameQualifier", c.Subject.DistinguishedNameQualifier, []string{"Bulb001"}},
		{"Subject.Title", c.Subject.Title, []string{"RGB"}},
		{"Subject.Surname", c.Subject.Surname, []string{"Multi Color"}},
		{"Subject.GivenName", c.Subject.GivenName, []string{"Bulb"}},
		{"Subject.Initials", c.Subject.Initials, []string{"ZZ"}},
		{"Subject.Pseudonym", c.Subject.Pseudonym, []string{"RGB Device"}},
		{"Subject.GenerationQualifier", c.Subject.GenerationQualifier, []string{"4"}},
		{"Subject.AlternativeName.DNSName", c.Subject.AlternativeName.DNSName, []string{"example.com"}},
		{"Subject.AlternativeName.RFC822Name", c.Subject.AlternativeName.RFC822Name, []string{"device1@example.com"}},
		{"Subject.AlternativeName.UniformResourceIdentifier", c.Subject.AlternativeName.UniformResourceIdentifier, []string{"ResourceIdentifier001"}},
		{"Subject.AlternativeName.IPAddress", c.Subject.AlternativeName.IPAddress, []string{"1.2.3.4"}},
		{"Subject.AlternativeName.DirectoryName", c.Subject.AlternativeName.DirectoryName, []string{"CN=LightBulbCert,O=IoT,C=US"}},
		{"Issuer.CommonName", c.Issuer.CommonName, []string{"IoT Devices Primary CA"}},
		{"Issuer.Organization", c.Issuer.Organization, []string{"IoT Devices"}},
		{"Issuer.AlternativeName.DNSName", c.Issuer.AlternativeName.DNSName, []string{"issuer.com"}},
		{"Issuer.AlternativeName.IPAddress", c.Issuer.AlternativeName.IPAddress, []string{"5.6.7.8"}},
		{"Issuer.AlternativeName.DirectoryName", c.Issuer.AlternativeName.DirectoryName, []string{"CN=Primary Issuer CA,O=Issuer"}},
	}
	for _, ch := range checks {
		if !slices.Equal(ch.got, ch.want) {
			t.Errorf("CertificateContext().%s = %q, want %q", ch.field, ch.got, ch.want)
		}
	}
	if !slices.Contains(c.AvailableKeys, "iot:Certificate.Subject.Pseudonym") ||
		!slices.Contains(c.AvailableKeys, "iot:Certificate.Issuer.AlternativeName.RFC822Name") ||
		slices.Contains(c.AvailableKeys, "iot:Certificate.Issuer.Title") {
		t.Errorf("CertificateContext().AvailableKeys = %q", c.AvailableKeys)
	}
}

// TestCertificatePolicy decides requests of a device whose certificate is
// read by the policy, like the examples of AWS IoT's documentation.
func TestCertificatePolicy(t *testing.T) {
	p := mustCompile(t, "cert", doc(`[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Certificate.SerialNumber}",
			"Condition":{"Null":{"iot:Certificate.SerialNumber":"false","iot:Certificate.Subject.CommonName":"false"}}},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.Organization.1}/device-stats/${iot:ClientId}/*",
			"Condition":{"ForAllValues:StringEquals":{"iot:Certificate.Subject.Organization.List":["Example Corp","IoT Devices"]}}},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"topicfilter/${iot:Certificate.Subject.AlternativeName.DNSName}/*",
			"Condition":{"StringEquals":{"iot:Certificate.Issuer.AlternativeName.DirectoryName":"CN=Primary Issuer CA,O=Issuer"}}}]`))
	cert := CertificateContext(mustCertificate(t))
	tests := []struct {
		name string
		req  Request
		want Result
	}{
		{"connect as the serial", Request{Action: ActionConnect, Resource: "client/10525622389124227206"}, Allowed},
		{"connect as the hex serial", Request{Action: ActionConnect, Resource: "client/921285cbb7a5e086"}, ImplicitDeny},
		{"publish stats", Request{Action: ActionPublish, Resource: "topic/Example Corp/device-stats/bulb/x", ClientID: "bulb"}, Allowed},
		{"publish stats of another", Request{Action: ActionPublish, Resource: "topic/Example Corp/device-stats/lamp/x", ClientID: "bulb"}, ImplicitDeny},
		{"subscribe below the DNS name", Request{Action: ActionSubscribe, Resource: "topicfilter/example.com/x"}, Allowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Certificate = cert
			if got := Decide(&tc.req, p).Result; got != tc.want {
				t.Errorf("Decide() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCertificateContextRDNs reads a certificate whose subject, and the
// directoryName of its subject alternative names, repeat attributes and
// hold a multi-valued RDN, encoded as given rather than as pkix.Name would
// write them: every value counts, in certificate order.
func TestCertificateContextRDNs(t *testing.T) {
	rdns := pkix.RDNSequence{
		{attr(nameOIDs[0], "a")}, {attr(nameOIDs[0], "b")},
		{attr(nameOIDs[2], "z")}, {attr(nameOIDs[2], "y")},
		{attr(nameOIDs[8], "t")},
		{attr(nameOIDs[0], "c"), attr(nameOIDs[3], "u")},
	}
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	dirName, err := asn1.Marshal(rdns[:2])
	if err != nil {
		t.Fatal(err)
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dirName}})
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), RawSubject: raw, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: oidSubjectAltName, Value: san}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	c := CertificateContext(cert)
	checks := []struct {
		field     string
		got, want []string
	}{
		{"Subject.CommonName", c.Subject.CommonName, []string{"a", "b", "c"}},
		{"Subject.Organization", c.Subject.Organization, []string{"z", "y"}},
		{"Subject.OrganizationalUnit", c.Subject.OrganizationalUnit, []string{"u"}},
		{"Subject.Title", c.Subject.Title, []string{"t"}},
		{"Subject.AlternativeName.DirectoryName", c.Subject.AlternativeName.DirectoryName, []string{"CN=b,CN=a"}},
	}
	for _, ch := range checks {
		if !slices.Equal(ch.got, ch.want) {
			t.Errorf("CertificateContext().%s = %q, want %q", ch.field, ch.got, ch.want)
		}
	}
}
