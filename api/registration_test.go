package api_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/ca"
)

// pki makes a customer's CAs and certificates with the real openssl, in a
// directory of its own.
type pki struct {
	t   *testing.T
	dir string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required when CI is set")
		}
		t.Skip("openssl not installed (CI unset)")
	}
	return &pki{t: t, dir: t.TempDir()}
}

func (p *pki) openssl(args ...string) {
	p.t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (p *pki) read(name string) string {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

// ca makes a self-signed CA, name.key and name.pem, and returns its PEM.
// newkey is openssl's -newkey; extra goes to openssl req.
func (p *pki) ca(name, newkey string, extra ...string) string {
	p.t.Helper()
	args := []string{"req", "-x509", "-newkey", newkey, "-nodes", "-keyout", name + ".key", "-out", name + ".pem",
		"-subj", "/O=Customer/CN=" + name, "-days", "30"}
	p.openssl(append(args, extra...)...)
	return p.read(name + ".pem")
}

// ecCA makes a P-256 CA with keyUsage keyCertSign.
func (p *pki) ecCA(name string) string {
	return p.ca(name, "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
}

// sign makes name.pem for subject signed by the CA caName, with the
// extensions in ext (an openssl extfile's text) if not empty, and returns
// its PEM.
func (p *pki) sign(name, subject, caName, ext string) string {
	p.t.Helper()
	p.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", name+".key", "-out", name+".csr", "-subj", subject)
	args := []string{"x509", "-req", "-in", name + ".csr", "-CA", caName + ".pem", "-CAkey", caName + ".key",
		"-CAcreateserial", "-out", name + ".pem", "-days", "10", "-sha256"}
	if ext != "" {
		os.WriteFile(filepath.Join(p.dir, name+".ext"), []byte(ext), 0o600)
		args = append(args, "-extfile", name+".ext")
	}
	p.openssl(args...)
	return p.read(name + ".pem")
}

// expired makes a certificate for subject that the CA caName signed and
// that expired an hour ago (openssl x509 cannot backdate).
func (p *pki) expired(subject, caName string) string {
	p.t.Helper()
	caCert := mustParsePEM(p.t, p.read(caName+".pem"))
	block, _ := pem.Decode([]byte(p.read(caName + ".key")))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		p.t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: subject},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, caCert, p256(p.t).Public(), key.(crypto.Signer))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func mustParsePEM(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("no PEM in %q", s)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) registrationCode() string {
	e.t.Helper()
	r := e.do("GET", "/v1/registration-code", e.admin, nil)
	var got struct{ RegistrationCode string }
	r.json(e.t, &got)
	if r.status != 200 || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(got.RegistrationCode) {
		e.t.Fatalf("GET /v1/registration-code = %d %s", r.status, r.body)
	}
	return got.RegistrationCode
}

type caResponse struct {
	CAID, Name, Role, Status, Subject, CertificatePEM, ProvisioningTemplate string
	AutoRegistration                                                        bool
}

// registerCA registers the CA name of p with a verification certificate
// for the current code, and returns it.
func (e *env) registerCA(p *pki, name string, active bool) caResponse {
	e.t.Helper()
	ver := p.sign(name+"-verification", "/CN="+e.registrationCode(), name, "")
	r := e.do("POST", "/v1/cas:register", e.admin, map[string]any{"caCertificatePem": p.read(name + ".pem"),
		"verificationCertificatePem": ver, "setAsActive": active, "autoRegistration": true})
	if r.status != http.StatusCreated {
		e.t.Fatalf("POST /v1/cas:register = %d %s", r.status, r.body)
	}
	var c caResponse
	r.json(e.t, &c)
	return c
}

func TestRegistrationCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tok := range []string{e.factory, e.auditor} {
		if r := e.do("GET", "/v1/registration-code", tok, nil); r.status != http.StatusForbidden {
			t.Errorf("GET /v1/registration-code as non-admin = %d, want 403", r.status)
		}
	}
	if n := e.count(`SELECT count(*) FROM registration_codes`); n != 0 {
		t.Fatalf("registration codes before any read = %d, want 0", n)
	}
	first := e.registrationCode()
	if again := e.registrationCode(); again != first {
		t.Errorf("second GET = %s, want the first code %s", again, first)
	}
	if r := e.do("DELETE", "/v1/registration-code", e.factory, nil); r.status != http.StatusForbidden {
		t.Errorf("DELETE as factory = %d, want 403", r.status)
	}
	if r := e.do("DELETE", "/v1/registration-code", e.admin, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /v1/registration-code = %d %s, want 204", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/registration-code", e.admin, nil); r.status != http.StatusNoContent {
		t.Errorf("DELETE with no code = %d, want 204", r.status)
	}
	if next := e.registrationCode(); next == first {
		t.Errorf("GET after DELETE = the old code, want a new one")
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'registration_code.created' AND actor_name = 'admin'`); n != 2 {
		t.Errorf("registration_code.created events = %d, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'registration_code.deleted'`); n != 1 {
		t.Errorf("registration_code.deleted events = %d, want 1 (deleting nothing records nothing)", n)
	}
}

func TestRegisterCA(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newPKI(t)
	p.ecCA("acme")
	dev := mustParsePEM(t, p.sign("dev", "/CN=dev-1", "acme", ""))
	verify := func() error {
		_, err := dev.Verify(x509.VerifyOptions{Roots: e.ca.TrustPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	if verify() == nil {
		t.Fatal("a device of an unregistered CA verifies against the trust pool")
	}
	c := e.registerCA(p, "acme", true)
	caCert := mustParsePEM(t, p.read("acme.pem"))
	if c.CAID != ca.CertificateID(caCert.Raw) || c.Role != "external" || c.Status != "ACTIVE" || !c.AutoRegistration ||
		c.Subject != "CN=acme,O=Customer" || mustParsePEM(t, c.CertificatePEM).Equal(caCert) == false {
		t.Errorf("registered CA = %+v", c)
	}
	if err := verify(); err != nil {
		t.Errorf("a device of the registered ACTIVE CA does not verify against TrustPool() at once: %v", err)
	}
	var got caResponse
	g := e.do("GET", "/v1/cas/"+c.CAID, e.auditor, nil)
	g.json(t, &got)
	if g.status != 200 || got != c {
		t.Errorf("GET /v1/cas/{id} = %d %+v, want %+v", g.status, got, c)
	}
	if l := e.do("GET", "/v1/cas", e.factory, nil); !strings.Contains(string(l.body), c.CAID) {
		t.Errorf("GET /v1/cas does not list the registered CA")
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'ca.registered' AND resource_id = '` + c.CAID +
		`' AND data->>'proof' = 'verification-certificate' AND actor_role = 'admin'`); n != 1 {
		t.Errorf("ca.registered events with the proof = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM cas WHERE id = '` + c.CAID + `' AND key_uri IS NULL AND role = 'external'`); n != 1 {
		t.Errorf("external CA rows without a key = %d, want 1", n)
	}
	// Deactivated, it leaves the trust pool at once.
	if r := e.do("PATCH", "/v1/cas/"+c.CAID, e.admin, map[string]string{"status": "INACTIVE"}); r.status != 200 {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	if verify() == nil {
		t.Error("a device of the deactivated CA still verifies against TrustPool()")
	}

	// Registered INACTIVE, it is not trusted until activated.
	p.ecCA("later")
	c2 := e.registerCA(p, "later", false)
	if c2.Status != "INACTIVE" {
		t.Errorf("status without setAsActive = %s, want INACTIVE", c2.Status)
	}

	// With its JITP template, in the same transaction.
	if r := e.do("POST", "/v1/provisioning-templates", e.admin, map[string]any{"name": "line-a", "type": "JITP", "body": jitpBody}); r.status != 201 {
		t.Fatalf("create template = %d %s", r.status, r.body)
	}
	p.ecCA("jitp")
	jitpVer := p.sign("jitp-ver", "/CN="+e.registrationCode(), "jitp", "")
	r := e.do("POST", "/v1/cas:register", e.admin, map[string]any{"caCertificatePem": p.read("jitp.pem"),
		"verificationCertificatePem": jitpVer, "provisioningTemplate": "line-a", "autoRegistration": true, "setAsActive": true})
	var c4 caResponse
	r.json(t, &c4)
	if r.status != 201 || c4.ProvisioningTemplate != "line-a" || !c4.AutoRegistration {
		t.Errorf("register with a JITP template = %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'ca.provisioning_template_set' AND resource_id = '` + c4.CAID + `'`); n != 1 {
		t.Errorf("ca.provisioning_template_set events = %d, want 1", n)
	}

	// Without proof, only when the admin says so, and the audit log says so.
	p.ecCA("noproof")
	body := map[string]any{"caCertificatePem": p.read("noproof.pem"), "name": "no-proof"}
	if r := e.do("POST", "/v1/cas:register", e.admin, body); r.status != 400 ||
		!strings.Contains(string(r.body), "allowWithoutVerification") {
		t.Errorf("register without proof = %d %s, want 400 naming allowWithoutVerification", r.status, r.body)
	}
	body["allowWithoutVerification"] = true
	r = e.do("POST", "/v1/cas:register", e.admin, body)
	var c3 caResponse
	r.json(t, &c3)
	if r.status != 201 || c3.Name != "no-proof" {
		t.Fatalf("register with allowWithoutVerification = %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'ca.registered' AND resource_id = '` + c3.CAID +
		`' AND data->>'proof' = 'none'`); n != 1 {
		t.Errorf("ca.registered events with proof none = %d, want 1", n)
	}
	if r := e.do("POST", "/v1/cas:register", e.factory, body); r.status != 403 {
		t.Errorf("register as factory = %d, want 403", r.status)
	}
}

func TestRegisterCABadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newPKI(t)
	code := e.registrationCode()
	good := p.ecCA("good")
	p.ecCA("other")
	p.ca("rsa1024", "rsa:1024")
	p.ca("noku", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "keyUsage=critical,digitalSignature")
	leaf := p.sign("leaf", "/CN=leaf", "good", "")
	goodVer := p.sign("ver", "/CN="+code, "good", "")
	verFor := func(caName string) string { return p.sign(caName+"-ver", "/CN="+code, caName, "") }
	huge := good + strings.Repeat("#", 64<<10)
	tests := []struct {
		name       string
		caPEM, ver string
		extra      map[string]any
		status     int
		want       string
		invalid    bool // the request breaks the spec on purpose
	}{
		{"wrong CN", good, p.sign("wrongcn", "/CN="+strings.Repeat("ab", 32), "good", ""), nil, 400, "not the current registration code", false},
		{"not signed by the CA", good, verFor("other"), nil, 400, "not signed by the key of caCertificatePem", false},
		{"expired verification", good, p.expired(code, "good"), nil, 400, "verificationCertificatePem has expired", false},
		{"not a CA", leaf, p.sign("leafver", "/CN="+code, "leaf", ""), nil, 400, "not a CA certificate", false},
		{"keyUsage without keyCertSign", p.read("noku.pem"), verFor("noku"), nil, 400, "lacks keyCertSign", false},
		{"RSA 1024", p.read("rsa1024.pem"), verFor("rsa1024"), nil, 400, "RSA key of 1024 bits is too small", false},
		{"garbage CA PEM", "hello", goodVer, nil, 400, "caCertificatePem is not PEM", false},
		{"garbage verification PEM", good, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", nil, 400,
			"verificationCertificatePem is not a valid X.509 certificate", false},
		{"two certificates", good + good, goodVer, nil, 400, "more than one PEM block", false},
		{"field over 64 KiB", huge, goodVer, nil, 413, "larger than 65536 bytes", true},
		{"unknown template", good, goodVer, map[string]any{"provisioningTemplate": "nope"}, 404, "nope", false},
		{"bad name", good, goodVer, map[string]any{"name": "a b"}, 400, "name", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"caCertificatePem": tt.caPEM, "verificationCertificatePem": tt.ver, "setAsActive": true}
			for k, v := range tt.extra {
				body[k] = v
			}
			send := e.do
			if tt.invalid {
				send = e.doInvalid
			}
			r := send("POST", "/v1/cas:register", e.admin, body)
			if _, msg := r.errorCode(t); r.status != tt.status || !strings.Contains(msg, tt.want) {
				t.Errorf("POST /v1/cas:register = %d %s, want %d saying %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM cas WHERE role = 'external'`); n != 0 {
		t.Errorf("external CAs after refused registrations = %d, want 0", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type LIKE 'ca.%'`); n != 2 { // the root's and the issuing CA's
		t.Errorf("CA audit events after refused registrations = %d, want 2", n)
	}
	// A duplicate is 409, and one of Imprint's own CAs is one.
	e.registerCA(p, "good", true)
	r := e.do("POST", "/v1/cas:register", e.admin, map[string]any{"caCertificatePem": good, "verificationCertificatePem": goodVer})
	if code, _ := r.errorCode(t); r.status != 409 || code != "conflict" {
		t.Errorf("registering the CA again = %d %s, want 409", r.status, r.body)
	}
	root := e.ca.Root()
	r = e.do("POST", "/v1/cas:register", e.admin, map[string]any{"allowWithoutVerification": true,
		"caCertificatePem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.DER}))})
	if r.status != 409 {
		t.Errorf("registering Imprint's root = %d %s, want 409", r.status, r.body)
	}
}

type certificateResponse struct {
	CertificateID, CAID, Status, Subject, CommonName, KeyAlgorithm, CertificatePEM string
	SANs                                                                           []string
}

func TestRegisterCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newPKI(t)
	p.ecCA("acme")
	c := e.registerCA(p, "acme", true)
	p.ecCA("stranger")
	p.ecCA("asleep")
	e.registerCA(p, "asleep", false)
	intermediate := p.sign("int", "/O=Customer/CN=int", "acme", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
	devPEM := p.sign("dev", "/O=Acme, Inc./CN=sensor-0001", "acme", "subjectAltName=DNS:sensor-0001.acme.example\n")

	r := e.do("POST", "/v1/certificates:register", e.factory, map[string]string{"certificatePem": devPEM})
	var got certificateResponse
	r.json(t, &got)
	dev := mustParsePEM(t, devPEM)
	if r.status != http.StatusCreated || got.CertificateID != ca.CertificateID(dev.Raw) || got.CAID != c.CAID ||
		got.Status != "INACTIVE" || got.CommonName != "sensor-0001" || got.Subject != `CN=sensor-0001,O=Acme\, Inc.` ||
		got.KeyAlgorithm != "EC-P256" || len(got.SANs) != 1 || got.SANs[0] != "dns:sensor-0001.acme.example" {
		t.Fatalf("POST /v1/certificates:register = %d %s", r.status, r.body)
	}
	if g := e.do("GET", "/v1/certificates/"+got.CertificateID, e.auditor, nil); g.status != 200 {
		t.Errorf("GET the registered certificate = %d", g.status)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.registered' AND resource_id = '` +
		got.CertificateID + `' AND actor_role = 'factory' AND data->>'caCertificateId' = '` + c.CAID + `'`); n != 1 {
		t.Errorf("certificate.registered events = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM certificates c JOIN cas a ON a.id = c.ca_id WHERE a.role = 'external'`); n != 1 {
		t.Errorf("certificates of the external CA = %d, want 1", n)
	}

	// Statuses, in any case.
	for _, tt := range []struct{ status, want string }{{"active", "ACTIVE"}, {"PENDING_ACTIVATION", "PENDING_ACTIVATION"}} {
		r := e.do("POST", "/v1/certificates:register", e.admin, map[string]string{
			"certificatePem": p.sign("s"+tt.want, "/CN=s-"+tt.status, "acme", ""), "status": tt.status})
		var got certificateResponse
		r.json(t, &got)
		if r.status != 201 || got.Status != tt.want {
			t.Errorf("register with status %q = %d %s, want %s", tt.status, r.status, r.body, tt.want)
		}
	}

	// An Imprint-issued certificate is registered already.
	iss := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "made-here")})
	var issuedCert issued
	iss.json(t, &issuedCert)

	before := e.count(`SELECT count(*) FROM certificates`)
	for _, tt := range []struct {
		name, pem, status string
		code              int
		want              string
	}{
		{"duplicate", devPEM, "", 409, "already registered"},
		{"issued by Imprint", issuedCert.CertificatePEM, "", 409, "already registered"},
		{"unregistered CA", p.sign("sdev", "/CN=s", "stranger", ""), "", 400, `issuer "CN=stranger,O=Customer" is not a registered CA`},
		{"CA above the issuer", p.sign("idev", "/CN=i", "int", ""), "", 400, `issuer "CN=int,O=Customer" is not a registered CA`},
		{"inactive CA", p.sign("adev", "/CN=a", "asleep", ""), "", 409, "is INACTIVE"},
		{"a CA certificate", intermediate, "", 400, "is a CA certificate"},
		{"expired", p.expired("old", "acme"), "", 400, "certificate has expired"},
		{"REVOKED", p.sign("r", "/CN=r", "acme", ""), "REVOKED", 400, "cannot be registered REVOKED"},
		{"unknown status", p.sign("u", "/CN=u", "acme", ""), "ON", 400, "status must be"},
		{"garbage", "garbage", "", 400, "certificatePem is not PEM"},
		{"two", devPEM + devPEM, "", 400, "more than one PEM block"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/certificates:register", e.admin, map[string]string{"certificatePem": tt.pem, "status": tt.status})
			if _, msg := r.errorCode(t); r.status != tt.code || !strings.Contains(msg, tt.want) {
				t.Errorf("POST /v1/certificates:register = %d %s, want %d saying %q", r.status, r.body, tt.code, tt.want)
			}
		})
	}
	// Two certificates of one CA with one serial: the second is refused.
	p.openssl("x509", "-req", "-in", "dev.csr", "-CA", "acme.pem", "-CAkey", "acme.key", "-set_serial", "0x5eed",
		"-out", "serial1.pem", "-days", "10")
	p.openssl("x509", "-req", "-in", "dev.csr", "-CA", "acme.pem", "-CAkey", "acme.key", "-set_serial", "0x5eed",
		"-out", "serial2.pem", "-days", "9")
	if r := e.do("POST", "/v1/certificates:register", e.admin, map[string]string{"certificatePem": p.read("serial1.pem")}); r.status != 201 {
		t.Fatalf("register serial 5eed = %d %s", r.status, r.body)
	}
	before++
	r = e.do("POST", "/v1/certificates:register", e.admin, map[string]string{"certificatePem": p.read("serial2.pem")})
	if _, msg := r.errorCode(t); r.status != 409 || !strings.Contains(msg, "serial 5eed") {
		t.Errorf("register another certificate with serial 5eed = %d %s, want 409 naming the serial", r.status, r.body)
	}
	if after := e.count(`SELECT count(*) FROM certificates`); after != before {
		t.Errorf("certificates after refused registrations = %d, want %d", after, before)
	}
	if r := e.do("POST", "/v1/certificates:register", e.auditor, map[string]string{"certificatePem": devPEM}); r.status != 403 {
		t.Errorf("register as auditor = %d, want 403", r.status)
	}
}

type batchResponse struct {
	Registered, Failed int
	Certificates       []struct {
		Index         int
		CertificateID string
	}
	Failures []struct {
		Index, Line int
		Error       struct{ Code, Message string }
	}
}

func TestRegisterBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newPKI(t)
	p.ecCA("acme")
	c := e.registerCA(p, "acme", true)
	p.ecCA("stranger")
	d0, d1, d2 := p.sign("d0", "/CN=d0", "acme", ""), p.sign("d1", "/CN=d1", "acme", ""), p.sign("d2", "/CN=d2", "acme", "")
	strange := p.sign("s", "/CN=s", "stranger", "")
	key := "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"
	bundle := "subject=CN = d0\n" + d0 + d1 + strange + key + d1 + d2

	r := e.do("POST", "/v1/certificates:register-batch?status=active", e.factory, bundle, "Content-Type", "application/x-pem-file")
	var got batchResponse
	r.json(t, &got)
	if r.status != 200 || got.Registered != 3 || got.Failed != 3 || len(got.Certificates) != 3 || len(got.Failures) != 3 {
		t.Fatalf("POST register-batch (PEM) = %d %s, want 3 registered, 3 failed", r.status, r.body)
	}
	wantFail := map[int]string{2: "not a registered CA", 3: `"PRIVATE KEY", want CERTIFICATE`, 4: "appears twice in the batch (first at index 1)"}
	for _, f := range got.Failures {
		if w, ok := wantFail[f.Index]; !ok || !strings.Contains(f.Error.Message, w) || f.Line < 2 {
			t.Errorf("failure %+v, want index in %v with its message and line", f, wantFail)
		}
	}
	for i, want := range []int{0, 1, 5} {
		if got.Certificates[i].Index != want {
			t.Errorf("registered %d has index %d, want %d", i, got.Certificates[i].Index, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM certificates WHERE ca_id = '` + c.CAID + `' AND status = 'ACTIVE'`); n != 3 {
		t.Errorf("ACTIVE certificates of the CA = %d, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.registered' AND actor_name = 'line-1'`); n != 3 {
		t.Errorf("certificate.registered events = %d, want 3", n)
	}

	// NDJSON, with a status per line, one registered already.
	d3 := p.sign("d3", "/CN=d3", "acme", "")
	nd := ndjson(t, map[string]string{"certificatePem": d3, "status": "PENDING_ACTIVATION"}) + "\n" +
		ndjson(t, map[string]string{"certificatePem": d0}) + "\n" +
		`{"certificatePem": "x", "extra": 1}` + "\n"
	r = e.do("POST", "/v1/certificates:register-batch", e.admin, nd, "Content-Type", "application/x-ndjson")
	got = batchResponse{}
	r.json(t, &got)
	if r.status != 200 || got.Registered != 1 || got.Failed != 2 || got.Certificates[0].CertificateID != ca.CertificateID(mustParsePEM(t, d3).Raw) {
		t.Fatalf("POST register-batch (NDJSON) = %d %s, want 1 registered, 2 failed", r.status, r.body)
	}
	if got.Failures[0].Error.Code != "conflict" || got.Failures[0].Line != 2 || got.Failures[1].Line != 3 {
		t.Errorf("NDJSON failures = %+v", got.Failures)
	}
	if n := e.count(`SELECT count(*) FROM certificates WHERE status = 'PENDING_ACTIVATION'`); n != 1 {
		t.Errorf("PENDING_ACTIVATION certificates = %d, want 1", n)
	}

	for _, tt := range []struct {
		name, body, ct, query string
		status                int
		want                  string
	}{
		{"JSON", `{"certificatePem": "x"}`, "application/json", "", 400, "Content-Type must be"},
		{"no certificate", "hello", "application/x-pem-file", "", 400, "holds no certificate"},
		{"bad status", d0, "application/x-pem-file", "?status=REVOKED", 400, "cannot be registered REVOKED"},
		{"unknown parameter", d0, "application/x-pem-file", "?limit=3", 400, "does not page"},
		{"too many", strings.Repeat("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", 10001),
			"application/x-pem-file", "", 413, "more than 10000 certificates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doInvalid("POST", "/v1/certificates:register-batch"+tt.query, e.admin, tt.body, "Content-Type", tt.ct)
			if _, msg := r.errorCode(t); r.status != tt.status || !strings.Contains(msg, tt.want) {
				t.Errorf("register-batch = %d %s, want %d saying %q", r.status, r.body, tt.status, tt.want)
			}
		})
	}
}

func ndjson(t *testing.T, v map[string]string) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsRegistrationCommands runs the commands of docs/registration.md,
// as written, against a server: openssl, curl and jq register a CA with
// proof of possession, then device certificates, one and a bundle.
func TestDocsRegistrationCommands(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required when CI is set", tool)
			}
			t.Skipf("%s not installed (CI unset)", tool)
		}
	}
	e := newEnv(t)
	p := newPKI(t)
	doc, err := os.ReadFile("../docs/registration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) != 3 {
		t.Fatalf("docs/registration.md has %d sh blocks, want 3", len(blocks))
	}
	run := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "IMPRINT="+e.url, "TOKEN="+e.admin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s\n: %v\n%s%s", script, err, out, stderr.String())
		}
		return string(out)
	}
	caID := strings.TrimSpace(run(blocks[0][1]))
	var c caResponse
	g := e.do("GET", "/v1/cas/"+caID, e.admin, nil)
	g.json(t, &c)
	if g.status != 200 || c.Role != "external" || c.Status != "ACTIVE" || !c.AutoRegistration {
		t.Fatalf("the CA the docs register = %d %s", g.status, g.body)
	}
	certID := strings.TrimSpace(run(blocks[1][1]))
	var cert certificateResponse
	g = e.do("GET", "/v1/certificates/"+certID, e.admin, nil)
	g.json(t, &cert)
	if g.status != 200 || cert.Status != "ACTIVE" || cert.CAID != caID || cert.CommonName != "sensor-0001" {
		t.Fatalf("the certificate the docs register = %d %s", g.status, g.body)
	}
	p.sign("other-device", "/CN=sensor-0002", "ca", "")
	var batch batchResponse
	if err := json.Unmarshal([]byte(run(blocks[2][1])), &batch); err != nil || batch.Registered != 1 || batch.Failed != 1 {
		t.Fatalf("the docs' bundle = %+v, %v, want 1 registered (sensor-0002) and 1 failed (sensor-0001 again)", batch, err)
	}
}

// TestRegisteredCertificateLifecycle: a certificate of an external CA is
// deactivated and revoked like any other, and no CRL of the external CA is
// left waiting to be signed (Imprint has not its key, and a publisher would
// retry it for ever).
func TestRegisteredCertificateLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newPKI(t)
	p.ecCA("acme")
	c := e.registerCA(p, "acme", true)
	r := e.do("POST", "/v1/certificates:register", e.admin, map[string]string{
		"certificatePem": p.sign("dev", "/CN=dev", "acme", ""), "status": "ACTIVE"})
	var cert certificateResponse
	r.json(t, &cert)
	if r.status != 201 {
		t.Fatalf("register = %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/certificates/"+cert.CertificateID, e.admin, map[string]string{"status": "INACTIVE"}); r.status != 200 {
		t.Fatalf("deactivate = %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/certificates/"+cert.CertificateID+"/revoke", e.admin, map[string]string{"reason": "keyCompromise"}); r.status != 200 {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM certificates WHERE id = '` + cert.CertificateID + `' AND status = 'REVOKED'`); n != 1 {
		t.Errorf("revoked registered certificates = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM crl_dirty WHERE ca_id = '` + c.CAID + `'`); n != 0 {
		t.Errorf("CRLs of the external CA marked for publishing = %d, want 0: Imprint cannot sign them", n)
	}
}
