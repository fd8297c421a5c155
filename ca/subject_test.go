package ca_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/policy"
)

// richSubjectRFC2253 is the subject of testdata/rich-subject.csr as
// openssl prints it with -nameopt RFC2253. The CSR was made with:
//
//	openssl ecparam -name prime256v1 -genkey -noout -out k.pem &&
//	openssl req -new -key k.pem -multivalue-rdn -out rich-subject.csr -subj \
//	  "/CN=a/CN=b/O=z/O=y/title=t/dnQualifier=q/SN=s/GN=g/initials=i/pseudonym=p/generationQualifier=III/OU=u+CN=c"
//
// openssl writes UTF8Strings (PrintableString for dnQualifier), where
// crypto/x509 would write PrintableStrings, and sorts the last, two-valued
// RDN into CN=c, OU=u.
const richSubjectRFC2253 = "OU=u+CN=c,generationQualifier=III,pseudonym=p,initials=i,GN=g,SN=s,dnQualifier=q,title=t,O=y,O=z,CN=b,CN=a"

// richSubject is the subject Imprint records for the same CSR.
const richSubject = "CN=c+OU=u,generationQualifier=III,pseudonym=p,initials=i,GN=g,SN=s,dnQualifier=q,title=t,O=y,O=z,CN=b,CN=a"

func mustRichCSR(tb testing.TB) *x509.CertificateRequest {
	tb.Helper()
	data, err := os.ReadFile("testdata/rich-subject.csr")
	if err != nil {
		tb.Fatal(err)
	}
	csr, err := ca.ParseCSR(data)
	if err != nil {
		tb.Fatalf("ParseCSR() error = %v", err)
	}
	return csr
}

// TestIssueKeepsSubject issues a certificate for a CSR with repeated
// common names and organizations, the attributes crypto/x509 has no field
// for and a multi-valued RDN: its subject must be the CSR's, byte for byte,
// as openssl reads it too.
func TestIssueKeepsSubject(t *testing.T) {
	t.Parallel()
	e, _, _ := mustInitEnv(t, imprint.KeyECDSAP256)
	csr := mustRichCSR(t)
	iss := mustIssue(t, e.a, ca.IssueRequest{CSR: csr})
	leaf := mustParseCert(t, iss.Certificate.DER)

	if !bytes.Equal(leaf.RawSubject, csr.RawSubject) {
		t.Errorf("certificate subject = %x, want the CSR's %x", leaf.RawSubject, csr.RawSubject)
	}
	if c := iss.Certificate; c.CommonName != "a" || c.Subject != richSubject {
		t.Errorf("CommonName, Subject = %q, %q, want the first CN a, %q", c.CommonName, c.Subject, richSubject)
	}
	if got := ca.Subject(csr); got != richSubject {
		t.Errorf("Subject() = %q, want %q", got, richSubject)
	}

	openssl := mustOpenSSL(t)
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, iss.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253"},
		{"req", "-in", "testdata/rich-subject.csr", "-noout", "-subject", "-nameopt", "RFC2253"},
	} {
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != "subject="+richSubjectRFC2253 {
			t.Errorf("openssl %s: %v\n%s\nwant subject=%s", strings.Join(args, " "), err, out, richSubjectRFC2253)
		}
	}
}

// TestIssuedSubjectPolicyVariables reads the iot:Certificate.Subject.*
// policy variables of a certificate the CA issued, by AWS IoT's rules: the
// bare name is the first value, .N the value at index N from 0, .List all
// of them, and a missing index does not resolve.
func TestIssuedSubjectPolicyVariables(t *testing.T) {
	t.Parallel()
	e, _, _ := mustInitEnv(t, imprint.KeyECDSAP256)
	leaf := mustParseCert(t, mustIssue(t, e.a, ca.IssueRequest{CSR: mustRichCSR(t)}).Certificate.DER)
	req := &policy.Request{Action: policy.ActionPublish, Certificate: policy.CertificateContext(leaf)}
	decide := func(t *testing.T, statement, resource string) bool {
		t.Helper()
		p, err := policy.Compile("p", `{"Version":"2012-10-17","Statement":[`+statement+`]}`)
		if err != nil {
			t.Fatalf("Compile() error = %v", err)
		}
		req.Resource = resource
		return policy.Decide(req, p).Allowed()
	}
	const prefix = "iot:Certificate.Subject."
	tests := []struct {
		variable string
		want     string // "" for a variable that does not resolve
	}{
		{"CommonName", "a"},
		{"CommonName.0", "a"},
		{"CommonName.1", "b"},
		{"CommonName.2", "c"},
		{"CommonName.3", ""},
		{"Organization", "z"},
		{"Organization.1", "y"},
		{"Organization.2", ""},
		{"OrganizationalUnit", "u"},
		{"Title", "t"},
		{"DistinguishedNameQualifier", "q"},
		{"Surname", "s"},
		{"GivenName", "g"},
		{"Initials", "i"},
		{"Pseudonym", "p"},
		{"GenerationQualifier", "III"},
		{"Country", ""},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			statement := `{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/v/${` + prefix + tt.variable + `}"}`
			if tt.want == "" {
				if decide(t, statement, "topic/v/") || decide(t, statement, "topic/v/${"+prefix+tt.variable+"}") {
					t.Errorf("${%s} resolved, want no value", prefix+tt.variable)
				}
				return
			}
			if !decide(t, statement, "topic/v/"+tt.want) {
				t.Errorf("${%s} is not %q", prefix+tt.variable, tt.want)
			}
		})
	}
	lists := []struct {
		name, condition string
		want            bool
	}{
		{"Organization.List is z and y", `"ForAllValues:StringEquals":{"` + prefix + `Organization.List":["y","z"]},
			"ForAnyValue:StringEquals":{"` + prefix + `Organization.List":"y"}`, true},
		{"Organization.List holds z", `"ForAnyValue:StringEquals":{"` + prefix + `Organization.List":"z"}`, true},
		{"Organization.List is not z alone", `"ForAllValues:StringEquals":{"` + prefix + `Organization.List":["z"]}`, false},
		{"CommonName.List is a, b and c", `"ForAllValues:StringEquals":{"` + prefix + `CommonName.List":["a","b","c"]}`, true},
		{"CommonName.List holds c", `"ForAnyValue:StringEquals":{"` + prefix + `CommonName.List":"c"}`, true},
		{"CommonName.List is not a and b alone", `"ForAllValues:StringEquals":{"` + prefix + `CommonName.List":["a","b"]}`, false},
	}
	for _, tt := range lists {
		t.Run(tt.name, func(t *testing.T) {
			statement := `{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/x","Condition":{` + tt.condition + `}}`
			if got := decide(t, statement, "topic/x"); got != tt.want {
				t.Errorf("Decide() allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

// withRDNs returns a CSR edit that sets the subject to rdns, as given.
func withRDNs(tb testing.TB, rdns ...[]pkix.AttributeTypeAndValue) func(*x509.CertificateRequest) {
	tb.Helper()
	seq := make(pkix.RDNSequence, len(rdns))
	for i, rdn := range rdns {
		seq[i] = rdn
	}
	raw, err := asn1.Marshal(seq)
	if err != nil {
		tb.Fatal(err)
	}
	return func(r *x509.CertificateRequest) { r.RawSubject = raw }
}

func atv(oid asn1.ObjectIdentifier, v any) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

var (
	oidCN  = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO   = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
)

// TestSubject checks the recorded subject string: the CSR's RDNs last first,
// RFC 4514 escapes, and the string of pkix.Name for the subjects it can
// write, so that certificates recorded before read the same.
func TestSubject(t *testing.T) {
	t.Parallel()
	key := mustKey(t, imprint.KeyECDSAP256)
	tests := []struct {
		name   string
		edit   func(*x509.CertificateRequest)
		want   string
		asPkix bool // want is also pkix.Name's String
	}{
		{"pkix.Name", func(r *x509.CertificateRequest) {
			r.Subject = pkix.Name{Country: []string{"US"}, Organization: []string{"Acme", "Widgets"},
				OrganizationalUnit: []string{"Lamps"}, CommonName: "lamp-1", SerialNumber: "42",
				Locality: []string{"Springfield"}, Province: []string{"IL"}, StreetAddress: []string{"1 Main St"},
				PostalCode: []string{"62701"}}
		}, "SERIALNUMBER=42,CN=lamp-1,OU=Lamps,O=Acme+O=Widgets,POSTALCODE=62701,STREET=1 Main St,L=Springfield,ST=IL,C=US", true},
		{"escapes", withRDNs(t, atv(oidO, "#x"), atv(oidCN, " #a,b+c\"d\\e<f>g;h ")),
			`CN=\ #a\,b\+c\"d\\e\<f\>g\;h\ ,O=\#x`, true},
		{"order kept", withRDNs(t, atv(oidCN, "dev"), atv(oidO, "Acme")), "O=Acme,CN=dev", false},
		{"domain component and email", withRDNs(t,
			atv(asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, "example"),
			atv(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, "dev@example.com"),
			atv(oidCN, "dev")), "CN=dev,emailAddress=dev@example.com,DC=example", false},
		{"other type", withRDNs(t, atv(oidCN, "dev"), atv(oidUID, "u1")), "0.9.2342.19200300.100.1.1=u1,CN=dev", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := &x509.CertificateRequest{}
			tt.edit(tpl)
			csr := mustCSR(t, key, tpl)
			if got := ca.Subject(csr); got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
			if got := csr.Subject.String(); tt.asPkix && got != tt.want {
				t.Errorf("pkix.Name.String() = %q, want %q", got, tt.want)
			}
		})
	}
}
