package ca_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

func TestCreateIssuingCA(t *testing.T) {
	t.Parallel()
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	ctx := context.Background()
	strict, err := e.a.CreateIssuingCA(ctx, ca.CreateCARequest{
		Name: "strict", Organization: "Acme", CommonName: "Acme Sensors CA", KeyType: imprint.KeyECDSAP384,
		Profile: strictProfile,
	})
	if err != nil {
		t.Fatalf("CreateIssuingCA() error = %v", err)
	}
	cert := mustParseCert(t, strict.DER)
	if strict.Role != imprint.CAIssuing || strict.ParentID != root.ID || strict.KeyAlgorithm != imprint.KeyECDSAP384 {
		t.Errorf("role, parent, key = %s, %s, %s, want issuing, %s, EC-P384", strict.Role, strict.ParentID, strict.KeyAlgorithm, root.ID)
	}
	if cert.Subject.CommonName != "Acme Sensors CA" || cert.Subject.Organization[0] != "Acme" {
		t.Errorf("subject = %s, want CN=Acme Sensors CA,O=Acme", cert.Subject)
	}
	if err := cert.CheckSignatureFrom(mustParseCert(t, root.DER)); err != nil {
		t.Errorf("CA is not signed by the root: %v", err)
	}
	if !cert.IsCA || cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("IsCA, pathlen = %v, %d, want true, 0", cert.IsCA, cert.MaxPathLen)
	}
	if !reflect.DeepEqual(strict.Profile, strictProfile) {
		t.Errorf("profile = %+v, want %+v", strict.Profile, strictProfile)
	}
	checkKeyFile(t, e.dir, strict)
	checkRecorded(t, e.db, root, issuing, strict)

	// The profile holds, in this Authority and in one loaded from the store.
	for name, a := range map[string]*ca.Authority{"same": e.a, "reloaded": mustNew(t, e.db, e.dir)} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			csr := mustCSR(t, mustKey(t, imprint.KeyECDSAP256), &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: "device-00c0ffee"}, DNSNames: []string{"device-00c0ffee.acme.example"},
			})
			iss := mustIssue(t, a, ca.IssueRequest{CSR: csr, CAID: strict.ID})
			leaf := mustParseCert(t, iss.Certificate.DER)
			if err := leaf.CheckSignatureFrom(cert); err != nil {
				t.Errorf("certificate is not signed by the strict CA: %v", err)
			}
			wantValidity(t, leaf, cert, start, 365*day)
			_, err := a.Issue(ctx, ca.IssueRequest{CSR: mustDeviceCSR(t, "sensor-1"), CAID: strict.ID})
			wantError(t, err, imprint.Forbidden, "does not match the pattern")
			// The default CA is still the oldest, and takes any name.
			if iss := mustIssue(t, a, ca.IssueRequest{CSR: mustDeviceCSR(t, "sensor-1")}); iss.Certificate.CAID != issuing.ID {
				t.Errorf("Issue() without a CA used %s, want the default %s", iss.Certificate.CAID, issuing.ID)
			}
		})
	}
}

func TestCreateIssuingCARefuses(t *testing.T) {
	t.Parallel()
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	profile := func(edit func(*imprint.IssuanceProfile)) imprint.IssuanceProfile {
		p := imprint.DefaultProfile()
		edit(&p)
		return p
	}
	good := imprint.DefaultProfile()
	tests := []struct {
		name string
		req  ca.CreateCARequest
		kind imprint.Kind
		msg  string
	}{
		{"zero profile", ca.CreateCARequest{Name: "x"}, imprint.Invalid, "profile.validityDays"},
		{"validity 0", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) { p.ValidityDays = 0 })},
			imprint.Invalid, "profile.validityDays must be between 1 and 36500"},
		{"validity too long", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) {
			p.ValidityDays = imprint.MaxValidityDays + 1
		})}, imprint.Invalid, "profile.validityDays must be between 1 and 36500"},
		{"no key types", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) { p.KeyTypes = nil })},
			imprint.Invalid, "profile.keyTypes must name at least one"},
		{"unknown key type", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) {
			p.KeyTypes = []imprint.KeyType{"DSA-1024"}
		})}, imprint.Invalid, `unknown key type "DSA-1024"`},
		{"unknown SAN type", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) {
			p.SANTypes = []string{"otherName"}
		})}, imprint.Invalid, `unknown SAN type "otherName"`},
		{"bad pattern", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) {
			p.CommonNamePattern = "device-["
		})}, imprint.Invalid, "profile.commonNamePattern"},
		{"pattern too long", ca.CreateCARequest{Name: "x", Profile: profile(func(p *imprint.IssuanceProfile) {
			p.CommonNamePattern = strings.Repeat("a", 513)
		})}, imprint.Invalid, "longer than 512"},
		{"no name", ca.CreateCARequest{Profile: good}, imprint.Invalid, "name must be 1 to 64"},
		{"name too long", ca.CreateCARequest{Name: strings.Repeat("a", 65), Profile: good}, imprint.Invalid, "name must be 1 to 64"},
		{"name with a slash", ca.CreateCARequest{Name: "../root", Profile: good}, imprint.Invalid, "may hold only"},
		{"name with a space", ca.CreateCARequest{Name: "my ca", Profile: good}, imprint.Invalid, "may hold only"},
		{"Ed25519 CA key", ca.CreateCARequest{Name: "x", KeyType: imprint.KeyEd25519, Profile: good},
			imprint.Invalid, "CA key type"},
		{"RSA CA key", ca.CreateCARequest{Name: "x", KeyType: imprint.KeyRSA2048, Profile: good}, imprint.Invalid, "CA key type"},
		{"common name too long", ca.CreateCARequest{Name: "x", CommonName: strings.Repeat("a", 65), Profile: good},
			imprint.Invalid, "commonName is longer than 64"},
		{"name taken", ca.CreateCARequest{Name: "default", Profile: good}, imprint.Conflict, "already exists"},
		{"root's name taken", ca.CreateCARequest{Name: "root", Profile: good}, imprint.Conflict, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.a.CreateIssuingCA(context.Background(), tt.req)
			wantError(t, err, tt.kind, tt.msg)
		})
	}

	// Nothing refused left a CA or a key file behind.
	checkRecorded(t, e.db, root, issuing)
	if got := len(e.a.CAs()); got != 2 {
		t.Errorf("CAs() = %d CAs, want 2", got)
	}
	files, err := os.ReadDir(filepath.Join(e.dir, "ca"))
	if err != nil || len(files) != 2 {
		t.Errorf("key directory holds %d files (%v), want the 2 of the root and default CAs", len(files), err)
	}
}
