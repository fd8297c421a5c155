package policy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fullRequest returns a request with every context value set.
func fullRequest() *Request {
	return &Request{
		Action:            ActionPublish,
		ClientID:          "client-1",
		CertificateID:     "cafe",
		SourceIP:          netip.MustParseAddr("::ffff:192.0.2.7"),
		ConnectAttributes: []string{"PersistentConnect", "LastWill"},
		Thing: &Thing{
			Name:       "thing-1",
			TypeName:   "lamp",
			Attributes: map[string]string{"color": "red", "Floor": "3", "empty": ""},
			Attached:   true,
		},
		Certificate: &Certificate{
			SerialNumber: "10525622389124227206",
			Subject: Name{
				CommonName:         []string{"lamp-1"},
				Country:            []string{"US"},
				Organization:       []string{"Example Corp", "AnyCompany", "Third", "Fourth", "Fifth", "Sixth"},
				OrganizationalUnit: []string{"Lights", "R&D"},
				Locality:           []string{"Seattle"},
				State:              []string{"WA"},
				SerialNumber:       []string{"123"},
				Title:              []string{"a,b=c"},
				Surname:            []string{"star*"},
				GivenName:          []string{strings.Repeat("g", 1025)},
				Initials:           []string{strings.Repeat("i", 1024)},
				Pseudonym:          []string{"plus+"},
				AlternativeName: AlternativeName{
					DNSName:                   []string{"lamp-1.example.com", "lamp.example.com"},
					RFC822Name:                []string{"lamp@example.com"},
					UniformResourceIdentifier: []string{"urn:lamp:1"},
					IPAddress:                 []string{"192.0.2.1"},
					DirectoryName:             []string{"CN=lamp,O=Example"},
				},
			},
			Issuer: Name{
				CommonName:                 []string{"Example CA"},
				DistinguishedNameQualifier: []string{"q1"},
				GenerationQualifier:        []string{"III"},
				AlternativeName:            AlternativeName{DNSName: []string{"ca.example.com"}},
			},
		},
	}
}

func TestKeyValue(t *testing.T) {
	req := fullRequest()
	tests := []struct {
		name string
		want string // "" for no value
	}{
		{"iot:ClientId", "client-1"},
		{"IOT:CLIENTID", "client-1"},
		{"iot:CertificateId", "cafe"},
		{"aws:SourceIp", "192.0.2.7"},
		{"iot:Connection.Thing.ThingName", "thing-1"},
		{"iot:Thing.ThingName", "thing-1"},
		{"iot:Connection.Thing.ThingTypeName", "lamp"},
		{"iot:Connection.Thing.Attributes[color]", "red"},
		{"iot:Connection.Thing.Attributes[Floor]", "3"},
		{"iot:Connection.Thing.Attributes[floor]", ""},
		{"iot:Connection.Thing.Attributes[size]", ""},
		{"iot:Connection.Thing.IsAttached", "true"},
		{"iot:Certificate.SerialNumber", "10525622389124227206"},
		{"iot:Certificate.Subject.CommonName", "lamp-1"},
		{"iot:certificate.subject.commonname", "lamp-1"},
		{"iot:Certificate.Subject.Country", "US"},
		{"iot:Certificate.Subject.Organization", "Example Corp"},
		{"iot:Certificate.Subject.Organization.0", "Example Corp"},
		{"iot:Certificate.Subject.Organization.1", "AnyCompany"},
		{"iot:Certificate.Subject.Organization.4", "Fifth"},
		{"iot:Certificate.Subject.Organization.5", ""}, // past the five-item limit
		{"iot:Certificate.Subject.OrganizationalUnit.1", "R&D"},
		{"iot:Certificate.Subject.OrganizationalUnit.2", ""},
		{"iot:Certificate.Subject.Locality", "Seattle"},
		{"iot:Certificate.Subject.State", "WA"},
		{"iot:Certificate.Subject.SerialNumber", "123"},
		{"iot:Certificate.Subject.Title", `a\,b\=c`}, // special characters escaped
		{"iot:Certificate.Subject.Surname", ""},      // holds a wildcard
		{"iot:Certificate.Subject.Pseudonym", ""},    // holds a '+'
		{"iot:Certificate.Subject.GivenName", ""},    // longer than 1,024
		{"iot:Certificate.Subject.Initials", strings.Repeat("i", 1024)},
		{"iot:Certificate.Subject.DistinguishedNameQualifier", ""},
		{"iot:Certificate.Subject.AlternativeName.DNSName", "lamp-1.example.com"},
		{"iot:Certificate.Subject.AlternativeName.DNSName.1", "lamp.example.com"},
		{"iot:Certificate.Subject.AlternativeName.RFC822Name", "lamp@example.com"},
		{"iot:Certificate.Subject.AlternativeName.UniformResourceIdentifier", "urn:lamp:1"},
		{"iot:Certificate.Subject.AlternativeName.IPAddress", "192.0.2.1"},
		{"iot:Certificate.Subject.AlternativeName.DirectoryName", "CN=lamp,O=Example"},
		{"iot:Certificate.Issuer.CommonName", "Example CA"},
		{"iot:Certificate.Issuer.DistinguishedNameQualifier", "q1"},
		{"iot:Certificate.Issuer.GenerationQualifier", "III"},
		{"iot:Certificate.Issuer.Organization", ""},
		{"iot:Certificate.Issuer.AlternativeName.DNSName", "ca.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := parseKey(tc.name)
			if !ok {
				t.Fatalf("parseKey(%q) = false", tc.name)
			}
			got, ok := k.value(req)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("value() = %q, %v, want %q", got, ok, tc.want)
			}
		})
	}
}

func TestKeyValueEmptyRequest(t *testing.T) {
	names := []string{
		"iot:ClientId", "iot:CertificateId", "aws:SourceIp", "iot:Connection.Thing.ThingName",
		"iot:Connection.Thing.ThingTypeName", "iot:Connection.Thing.Attributes[color]",
		"iot:Certificate.SerialNumber", "iot:Certificate.Subject.CommonName",
		"iot:Certificate.Issuer.AlternativeName.IPAddress",
	}
	for _, req := range []*Request{{}, {Thing: &Thing{Name: "t", TypeName: "x", Attributes: map[string]string{"color": "red"}}}} {
		for _, name := range names {
			k, _ := parseKey(name)
			if v, ok := k.value(req); ok {
				t.Errorf("%s.value(%+v) = %q, want no value", name, req, v)
			}
		}
		k, _ := parseKey("iot:Connection.Thing.IsAttached")
		if v, ok := k.value(req); !ok || v != "false" {
			t.Errorf("IsAttached.value() = %q, %v, want \"false\"", v, ok)
		}
	}
}

func TestParseKeyCanonicalName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"iot:clientid", "iot:ClientId"},
		{"iot:Thing.ThingName", "iot:Connection.Thing.ThingName"},
		{"iot:connection.thing.attributes[Color]", "iot:Connection.Thing.Attributes[Color]"},
		{"iot:certificate.issuer.alternativename.dnsname.2", "iot:Certificate.Issuer.AlternativeName.DNSName.2"},
		{"iot:Certificate.Subject.Organization.list", "iot:Certificate.Subject.Organization.List"},
	}
	for _, tc := range tests {
		k, ok := parseKey(tc.in)
		if !ok || k.name != tc.want {
			t.Errorf("parseKey(%q).name = %q, want %q", tc.in, k.name, tc.want)
		}
	}
	for _, in := range []string{
		"iot:Nope", "aws:username", "iot:Certificate.Subject.Color", "iot:Certificate.Subject.CommonName.x",
		"iot:Certificate.Subject.CommonName.01", "iot:Certificate.Subject.CommonName.1000",
		"iot:Connection.Thing.Attributes[]", "iot:Connection.Thing.Attributes[a b]",
		"iot:Certificate.Subject.AlternativeName.CommonName", "iot:Certificate.Other.CommonName",
	} {
		if _, ok := parseKey(in); ok {
			t.Errorf("parseKey(%q) = true, want false", in)
		}
	}
}

func TestKeyValues(t *testing.T) {
	req := fullRequest()
	tests := []struct {
		name string
		want []string
	}{
		{"iot:Certificate.Subject.Organization.List", []string{"Example Corp", "AnyCompany", "Third", "Fourth", "Fifth"}},
		{"iot:Certificate.Subject.Title.List", []string{`a\,b\=c`}},
		{"iot:Certificate.Subject.Surname.List", nil},
		{"iot:Certificate.Subject.AlternativeName.DNSName.List", []string{"lamp-1.example.com", "lamp.example.com"}},
		{"iot:ConnectAttributes", []string{"PersistentConnect", "LastWill"}},
		{"iot:ClientId", []string{"client-1"}},
		{"aws:SourceIp", []string{"192.0.2.7"}},
		{"iot:CertificateId", []string{"cafe"}},
	}
	for _, tc := range tests {
		k, _ := parseKey(tc.name)
		v := k.values(req)
		var got []string
		for i := 0; i < v.n; i++ {
			if s, ok := v.at(i); ok {
				got = append(got, s)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s values = %q, want %q", tc.name, got, tc.want)
		}
		if v.present() != (len(tc.want) > 0) {
			t.Errorf("%s present() = %v, want %v", tc.name, v.present(), len(tc.want) > 0)
		}
	}
}

func TestAvailableKeys(t *testing.T) {
	c := &Certificate{
		SerialNumber: "1",
		Subject:      Name{CommonName: []string{"x"}, AlternativeName: AlternativeName{DNSName: []string{"x.example"}}},
		Issuer:       Name{Organization: []string{"CA"}},
	}
	want := []string{
		"iot:Certificate.SerialNumber",
		"iot:Certificate.Subject.CommonName",
		"iot:Certificate.Subject.AlternativeName.DNSName",
		"iot:Certificate.Issuer.Organization",
	}
	if got := c.availableKeys(); !slices.Equal(got, want) {
		t.Errorf("availableKeys() = %q, want %q", got, want)
	}
	c.AvailableKeys = []string{"given"}
	if got := c.availableKeys(); !slices.Equal(got, []string{"given"}) {
		t.Errorf("availableKeys() = %q, want the field", got)
	}
}

func TestCertValue(t *testing.T) {
	tests := []struct {
		in, want string
		dn, ok   bool
	}{
		{"plain", "plain", true, true},
		{`a,b"c\d=e<f>g;h`, `a\,b\"c\\d\=e\<f\>g\;h`, true, true},
		{"a,b", "a,b", false, true},
		{"a*b", "", true, false},
		{"a$b", "", true, false},
		{"a+b", "", true, false},
		{"a?b", "", false, false},
		{"a#b", "", false, false},
		{strings.Repeat("é", 1024), strings.Repeat("é", 1024), true, true},
		{strings.Repeat("é", 1025), "", true, false},
	}
	for _, tc := range tests {
		got, ok := certValue(tc.in, tc.dn)
		if got != tc.want || ok != tc.ok {
			t.Errorf("certValue(%q, %v) = %q, %v, want %q, %v", tc.in, tc.dn, got, ok, tc.want, tc.ok)
		}
	}
}
