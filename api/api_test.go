package api_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/ca/catest"
	"github.com/imprint-iot/imprint/cmd/imprint/server"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.MainWith(m, func(ctx context.Context, db *postgres.DB) (err error) {
		caDir, err = catest.Init(ctx, db, []byte(testPassphrase), "http://imprint.test")
		return err
	})
	if caDir != "" {
		os.RemoveAll(caDir)
	}
	os.Exit(code)
}

// caDir holds the keys of the CA every test's database starts with (see
// catest.Init).
var caDir string

const testPassphrase = "test passphrase"

var ctx = context.Background()

// env is a running API on a fresh database with a fresh CA, and a token of
// each role.
type env struct {
	t                       *testing.T
	url                     string
	db                      *postgres.DB
	dbURL                   string
	dataDir                 string // the CA's keys
	ca                      *ca.Authority
	handler                 http.Handler
	admin, factory, auditor string
	// client checks every request and response against openapi.yaml.
	client *http.Client
}

// loopbackAllowed is the allow list of test environments: their webhook
// receivers are httptest servers on 127.0.0.1.
var loopbackAllowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAllowing(t, loopbackAllowed)
}

// newEnvAllowing is newEnv with outbound requests allowed to reach the
// addresses in allow (IMPRINT_OUTBOUND_ALLOW), beyond public ones.
func newEnvAllowing(t *testing.T, allow []netip.Prefix) *env {
	t.Helper()
	dbURL := pgtest.URL(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := postgres.Open(ctx, dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	dataDir := caDir // the CA of the template database; keys the tests make have names of their own
	auth, err := ca.New(ctx, ca.Config{DataDir: dataDir, Passphrase: []byte(testPassphrase),
		PublicURL: "http://imprint.test", Log: log}, db)
	if err != nil {
		t.Fatal(err)
	}
	app := mustServer(t, log, db, auth, allow)
	h := app.Handler
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL, db: db, dbURL: dbURL, dataDir: dataDir, ca: auth, handler: h,
		client: &http.Client{Transport: specTransport{base: http.DefaultTransport, report: t.Errorf}}}
	e.admin = e.token("admin", imprint.RoleAdmin)
	e.factory = e.token("line-1", imprint.RoleFactory)
	e.auditor = e.token("audit", imprint.RoleAuditor)
	return e
}

// mustServer builds a server on db and auth as `imprint serve` does, with
// outbound requests allowed to reach allow, and closes it when t ends.
func mustServer(t *testing.T, log *slog.Logger, db *postgres.DB, auth *ca.Authority, allow []netip.Prefix) *server.Server {
	t.Helper()
	app, err := server.New(ctx, server.Config{Log: log, DB: db, CA: auth, SecretKey: bytes.Repeat([]byte{7}, 32),
		OCSPMaxAge: time.Minute, WebhookAllowHTTP: true, OutboundAllow: allow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	return app
}

func (e *env) token(name string, role imprint.Role) string {
	t, secret, err := imprint.NewToken(name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CreateToken(ctx, t, imprint.SystemActor); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode returns the code and message of an error response.
func (r response) errorCode(t *testing.T) (string, string) {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.json(t, &e)
	return e.Error.Code, e.Error.Message
}

// do sends a request and returns the response, checking both against
// openapi.yaml. A JSON body is sent with Content-Type application/json
// unless headers set another.
func (e *env) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	return e.send(ctx, method, path, token, body, headers...)
}

// doInvalid is do for a request that breaks the spec on purpose (malformed
// body, bad parameter): only its response is checked against openapi.yaml.
func (e *env) doInvalid(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	return e.send(invalidRequest(ctx), method, path, token, body, headers...)
}

func (e *env) send(ctx context.Context, method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (e *env) count(sql string) int {
	e.t.Helper()
	var n int
	if err := pgtest.Conn(e.t, e.dbURL).QueryRow(ctx, sql).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func csrPEM(t testing.TB, key crypto.Signer, cn string, dns ...string) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type issued struct {
	CertificateID  string `json:"certificateId"`
	CertificatePEM string `json:"certificatePem"`
	ChainPEM       string `json:"chainPem"`
	Serial         string `json:"serial"`
	CAID           string `json:"caId"`
	Status         string `json:"status"`
	PrivateKeyPEM  string `json:"privateKeyPem"`
}

// opensslVerify checks cert against chain with the real openssl.
func opensslVerify(t *testing.T, certPEM, chainPEM string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is required when CI is set")
		}
		t.Skip("openssl not installed (CI unset)")
	}
	dir := t.TempDir()
	certFile, chainFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "chain.pem")
	os.WriteFile(certFile, []byte(certPEM), 0o600)
	os.WriteFile(chainFile, []byte(chainPEM), 0o600)
	out, err := exec.Command("openssl", "verify", "-purpose", "sslclient", "-CAfile", chainFile, certFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v: %s", err, out)
	}
}

func TestIssueOneCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "device-1", "device-1.example")})
	if r.status != http.StatusCreated {
		t.Fatalf("POST /v1/certificates = %d %s, want 201", r.status, r.body)
	}
	var got issued
	r.json(t, &got)
	opensslVerify(t, got.CertificatePEM, got.ChainPEM)
	block, _ := pem.Decode([]byte(got.CertificatePEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got.CertificateID != ca.CertificateID(cert.Raw) || got.Status != "ACTIVE" || cert.Subject.CommonName != "device-1" {
		t.Errorf("response = %+v, want the ID of the DER, ACTIVE, CN device-1", got)
	}
	if n := e.count(`SELECT count(*) FROM certificates WHERE id = '` + got.CertificateID + `' AND status = 'ACTIVE'`); n != 1 {
		t.Errorf("certificate rows = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.issued' AND resource_id = '` +
		got.CertificateID + `' AND actor_name = 'line-1' AND actor_role = 'factory'`); n != 1 {
		t.Errorf("audit events for the issue = %d, want 1 naming token line-1", n)
	}
	// It can be read back, and listed.
	g := e.do("GET", "/v1/certificates/"+got.CertificateID, e.auditor, nil)
	var c struct {
		CertificatePEM, CommonName, Status string
		SANs                               []string
	}
	g.json(t, &c)
	if g.status != 200 || c.CertificatePEM != got.CertificatePEM || c.CommonName != "device-1" || len(c.SANs) != 1 {
		t.Errorf("GET certificate = %d %s", g.status, g.body)
	}
	if g := e.do("GET", "/v1/certificates/"+strings.ToUpper(got.CertificateID), e.admin, nil); g.status != 200 {
		t.Errorf("GET with an upper-case ID = %d, want 200", g.status)
	}
}
