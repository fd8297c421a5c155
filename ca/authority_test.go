package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.step.sm/crypto/pemutil"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestMain(m *testing.M) {
	// A fuzzing worker runs FuzzParseCSR only, which needs no database:
	// spare it a PostgreSQL server (pgtest starts one per process).
	flag.Parse()
	if w := flag.Lookup("test.fuzzworker"); w != nil && w.Value.String() == "true" {
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m))
}

// testPassphrase encrypts the CA keys of every test; it protects nothing.
var testPassphrase = []byte("test passphrase, not a secret")

// testPublicURL is given with a trailing slash, which New must drop.
const testPublicURL = "https://imprint.example.com/"

// env is an Authority over a fresh, migrated database and data directory.
type env struct {
	url string // the database, for tests that check rows directly
	db  *postgres.DB
	dir string
	a   *ca.Authority
}

// newEnv returns an env whose Authority has no CA yet.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	url := pgtest.URL(tb)
	db, err := postgres.Open(context.Background(), url, discardLog())
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	tb.Cleanup(db.Close)
	e := &env{url: url, db: db, dir: tb.TempDir()}
	e.a = mustNew(tb, e.db, e.dir)
	return e
}

// mustInitEnv returns an env initialised with root and default issuing CAs
// of key type kt: the CAs one Init made for the whole test binary, recorded
// in the env's database and their key files copied into its directory, as
// Init would have left them. Making and encrypting CA keys (PBKDF2 at
// 600,000 iterations a file) is the costliest part of a test; tests of Init
// itself call it on a newEnv.
func mustInitEnv(tb testing.TB, kt imprint.KeyType) (e *env, root, issuing *imprint.CA) {
	tb.Helper()
	v, _ := initialised.LoadOrStore(kt, &initCache{})
	c := v.(*initCache)
	c.once.Do(func() { c.make(tb, kt) })
	if c.err != nil || c.issuing == nil {
		tb.Fatalf("the shared Init of %s CAs failed: %v", kt, c.err)
	}
	e = newEnv(tb)
	for rel, data := range c.files {
		path := filepath.Join(e.dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	r, i := *c.root, *c.issuing
	for _, rec := range []*imprint.CA{&r, &i} {
		if err := e.db.CreateCA(context.Background(), rec, imprint.SystemActor); err != nil {
			tb.Fatalf("CreateCA(%s) error = %v", rec.Name, err)
		}
	}
	if err := e.a.Reload(context.Background()); err != nil {
		tb.Fatalf("Reload() error = %v", err)
	}
	return e, &r, &i
}

// initialised holds, by key type, the CAs of one Init and their key files.
var initialised sync.Map

type initCache struct {
	once          sync.Once
	root, issuing *imprint.CA
	files         map[string][]byte // by path under the data directory
	err           error
}

func (c *initCache) make(tb testing.TB, kt imprint.KeyType) {
	e := newEnv(tb)
	c.root, c.issuing, c.err = e.a.Init(context.Background(), ca.InitRequest{Organization: "Acme", KeyType: kt})
	if c.err != nil {
		return
	}
	c.files = map[string][]byte{}
	c.err = filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(e.dir, path)
		c.files[rel] = data
		return err
	})
}

func mustNew(tb testing.TB, store ca.Store, dir string) *ca.Authority {
	tb.Helper()
	a, err := ca.New(context.Background(), ca.Config{
		DataDir: dir, Passphrase: testPassphrase, PublicURL: testPublicURL, Log: discardLog(),
	}, store)
	if err != nil {
		tb.Fatalf("New() error = %v", err)
	}
	return a
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustParseCert(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("ParseCertificate() error = %v", err)
	}
	return c
}

// wantError fails tb unless err has the given kind and a client-safe
// message containing msg.
func wantError(tb testing.TB, err error, kind imprint.Kind, msg string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("error = nil, want %v containing %q", kind, msg)
	}
	if got := imprint.ErrorKind(err); got != kind {
		tb.Errorf("error kind = %v, want %v (error: %v)", got, kind, err)
	}
	if got := imprint.ErrorMessage(err); !strings.Contains(got, msg) {
		tb.Errorf("error message = %q, want it to contain %q", got, msg)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// mustOpenSSL returns the path of the openssl tool. Without it the test is
// skipped, or fails when CI is set.
func mustOpenSSL(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("openssl is required when CI is set: %v", err)
		}
		tb.Skipf("openssl not found (CI unset, so skipping): %v", err)
	}
	return path
}

func TestInit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		keyType imprint.KeyType // as given to Init
		want    imprint.KeyType
		curve   elliptic.Curve
	}{
		{"", imprint.KeyECDSAP256, elliptic.P256()},
		{imprint.KeyECDSAP384, imprint.KeyECDSAP384, elliptic.P384()},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if err := e.a.Ready(); imprint.ErrorKind(err) != imprint.Unavailable {
				t.Errorf("Ready() before Init = %v, want Unavailable", err)
			}
			root, issuing, err := e.a.Init(context.Background(), ca.InitRequest{KeyType: tt.keyType})
			if err != nil {
				t.Fatalf("Init() error = %v", err)
			}
			if err := e.a.Ready(); err != nil {
				t.Errorf("Ready() after Init = %v, want nil", err)
			}

			rootCert := mustParseCert(t, root.DER)
			checkCA(t, root, rootCert, tt.want, tt.curve)
			if root.Role != imprint.CARoot || root.ParentID != "" || root.Name != "root" {
				t.Errorf("root role, parent, name = %q, %q, %q, want root, \"\", root", root.Role, root.ParentID, root.Name)
			}
			if err := rootCert.CheckSignatureFrom(rootCert); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if rootCert.Subject.CommonName != "Imprint Root CA" || rootCert.Subject.String() != rootCert.Issuer.String() {
				t.Errorf("root subject, issuer = %q, %q, want Imprint Root CA, self", rootCert.Subject, rootCert.Issuer)
			}
			if got := rootCert.NotAfter.Sub(rootCert.NotBefore); got != ca.RootValidity+time.Minute {
				t.Errorf("root validity = %v, want %v", got, ca.RootValidity+time.Minute)
			}
			if rootCert.MaxPathLen != 1 {
				t.Errorf("root pathlen = %d, want 1", rootCert.MaxPathLen)
			}

			issCert := mustParseCert(t, issuing.DER)
			checkCA(t, issuing, issCert, tt.want, tt.curve)
			if issuing.Role != imprint.CAIssuing || issuing.ParentID != root.ID || issuing.Name != "default" {
				t.Errorf("issuing role, parent, name = %q, %q, %q, want issuing, %q, default",
					issuing.Role, issuing.ParentID, issuing.Name, root.ID)
			}
			if err := issCert.CheckSignatureFrom(rootCert); err != nil {
				t.Errorf("issuing CA is not signed by the root: %v", err)
			}
			if got := issCert.NotAfter.Sub(issCert.NotBefore); got != ca.IssuingValidity+time.Minute {
				t.Errorf("issuing validity = %v, want %v", got, ca.IssuingValidity+time.Minute)
			}
			if issCert.MaxPathLen != 0 || !issCert.MaxPathLenZero {
				t.Errorf("issuing pathlen = %d (zero %v), want 0", issCert.MaxPathLen, issCert.MaxPathLenZero)
			}
			if issCert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
				t.Errorf("issuing key usage %b lacks digitalSignature (OCSP signing)", issCert.KeyUsage)
			}
			if !reflect.DeepEqual(issuing.Profile, imprint.DefaultProfile()) {
				t.Errorf("issuing profile = %+v, want the default %+v", issuing.Profile, imprint.DefaultProfile())
			}

			checkRecorded(t, e.db, root, issuing)
			for _, c := range []*imprint.CA{root, issuing} {
				checkKeyFile(t, e.dir, c)
			}
			if fi, err := os.Stat(filepath.Join(e.dir, "ca")); err != nil {
				t.Errorf("key directory: %v", err)
			} else if fi.Mode().Perm() != 0o700 {
				t.Errorf("key directory mode = %v, want 0700", fi.Mode().Perm())
			}

			_, _, err = e.a.Init(context.Background(), ca.InitRequest{})
			wantError(t, err, imprint.Conflict, "already initialised")
		})
	}
}

// checkCA checks what every CA certificate shares.
func checkCA(t *testing.T, c *imprint.CA, cert *x509.Certificate, kt imprint.KeyType, curve elliptic.Curve) {
	t.Helper()
	if c.ID != sha256Hex(c.DER) {
		t.Errorf("CA %s: ID is not the hex SHA-256 of its DER", c.Name)
	}
	if c.KeyAlgorithm != kt || c.Status != imprint.CAActive {
		t.Errorf("CA %s: key algorithm, status = %s, %s, want %s, ACTIVE", c.Name, c.KeyAlgorithm, c.Status, kt)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != curve {
		t.Errorf("CA %s: public key %T is not ECDSA %s", c.Name, cert.PublicKey, curve.Params().Name)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("CA %s: IsCA = %v, BasicConstraintsValid = %v, want true", c.Name, cert.IsCA, cert.BasicConstraintsValid)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; cert.KeyUsage&want != want {
		t.Errorf("CA %s: key usage %b lacks keyCertSign|cRLSign", c.Name, cert.KeyUsage)
	}
	if now := time.Now(); !cert.NotBefore.Before(now) || !cert.NotAfter.After(now) {
		t.Errorf("CA %s: validity %v to %v does not contain now", c.Name, cert.NotBefore, cert.NotAfter)
	}
	if c.Serial != cert.SerialNumber.Text(16) {
		t.Errorf("CA %s: Serial = %q, want %q, lowercase hex without leading zeros as for device certificates",
			c.Name, c.Serial, cert.SerialNumber.Text(16))
	}
	if c.CommonName != cert.Subject.CommonName ||
		!c.NotBefore.Equal(cert.NotBefore) || !c.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("CA %s: recorded CN, validity do not match the certificate", c.Name)
	}
}

// checkRecorded checks the store holds exactly the given CAs, as given.
func checkRecorded(t *testing.T, db *postgres.DB, want ...*imprint.CA) {
	t.Helper()
	ctx := context.Background()
	got, err := db.CAs(ctx)
	if err != nil {
		t.Fatalf("db.CAs() error = %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("db.CAs() = %d CAs, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Name != w.Name || g.Role != w.Role || g.ParentID != w.ParentID ||
			g.KeyURI != w.KeyURI || string(g.DER) != string(w.DER) || !reflect.DeepEqual(g.Profile, w.Profile) {
			t.Errorf("db.CAs()[%d] = %+v, want %+v", i, g, w)
		}
		events, err := db.EventsFor(ctx, "ca", w.ID, 10)
		if err != nil || len(events) != 1 || events[0].Type != imprint.EventCACreated {
			t.Errorf("events of CA %s = %+v, %v, want one %s", w.Name, events, err, imprint.EventCACreated)
		}
	}
}

// checkKeyFile checks c's key is an encrypted PKCS#8 PEM file, mode 0600,
// that opens with the passphrase only and holds the key of c's certificate.
func checkKeyFile(t *testing.T, dir string, c *imprint.CA) {
	t.Helper()
	if !strings.HasPrefix(c.KeyURI, "softkms:") {
		t.Errorf("CA %s: key URI %q does not start with softkms:", c.Name, c.KeyURI)
	}
	path := filepath.Join(dir, "ca", c.ID+".key")
	if !strings.HasSuffix(c.KeyURI, filepath.Join("ca", c.ID+".key")) {
		t.Errorf("CA %s: key URI %q does not name %s", c.Name, c.KeyURI, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("CA %s: key file: %v", c.Name, err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("CA %s: key file mode = %v, want 0600", c.Name, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "ENCRYPTED PRIVATE KEY") {
		t.Errorf("CA %s: key file is not an ENCRYPTED PRIVATE KEY PEM", c.Name)
	}
	if block, _ := pem.Decode(data); block == nil {
		t.Errorf("CA %s: key file is not PEM", c.Name)
	} else if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		t.Errorf("CA %s: key file parses as a clear PKCS#8 key", c.Name)
	}
	if _, err := pemutil.Parse(data, pemutil.WithPassword([]byte("wrong"))); err == nil {
		t.Errorf("CA %s: key file opens with a wrong passphrase", c.Name)
	}
	key, err := pemutil.Parse(data, pemutil.WithPassword(testPassphrase))
	if err != nil {
		t.Fatalf("CA %s: key file does not open with the passphrase: %v", c.Name, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !signer.Public().(*ecdsa.PublicKey).Equal(mustParseCert(t, c.DER).PublicKey) {
		t.Errorf("CA %s: key file does not hold the key of the CA certificate", c.Name)
	}
}

// TestKeyFileOpenSSL checks with openssl that the CA key files are encrypted
// PKCS#8 that open with the passphrase and not without it.
func TestKeyFileOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := mustOpenSSL(t)
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	path := filepath.Join(e.dir, "ca", issuing.ID+".key")
	run := func(pass string) error {
		return exec.Command(openssl, "pkey", "-in", path, "-noout", "-passin", "pass:"+pass).Run()
	}
	if err := run(string(testPassphrase)); err != nil {
		t.Errorf("openssl pkey with the passphrase: %v", err)
	}
	if err := run("wrong"); err == nil {
		t.Errorf("openssl pkey opens the key with a wrong passphrase")
	}
	out, err := exec.Command(openssl, "asn1parse", "-in", path).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl asn1parse: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PBES2") {
		t.Errorf("key file is not PBES2-encrypted PKCS#8:\n%s", out)
	}
}

func TestNewLoadsCAs(t *testing.T) {
	t.Parallel()
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	a := mustNew(t, e.db, e.dir)
	if got := a.Root(); got == nil || got.ID != root.ID {
		t.Fatalf("Root() = %+v, want %s", got, root.ID)
	}
	cas := a.CAs()
	if len(cas) != 2 || cas[0].ID != root.ID || cas[1].ID != issuing.ID {
		t.Errorf("CAs() = %d CAs, want the root then %s", len(cas), issuing.Name)
	}
	if got, err := a.CA(issuing.ID); err != nil || !reflect.DeepEqual(got.Profile, issuing.Profile) {
		t.Errorf("CA(%s) = %+v, %v, want the default issuing CA", issuing.ID, got, err)
	}
	_, err := a.CA(strings.Repeat("0", 64))
	wantError(t, err, imprint.NotFound, "not found")
	if err := a.Ready(); err != nil {
		t.Errorf("Ready() = %v, want nil", err)
	}

	iss := mustIssue(t, a, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-1")})
	if iss.Certificate.CAID != issuing.ID {
		t.Errorf("Issue() CA = %s, want the default issuing CA %s", iss.Certificate.CAID, issuing.ID)
	}
	leaf := mustParseCert(t, iss.Certificate.DER)
	if err := leaf.CheckSignatureFrom(mustParseCert(t, issuing.DER)); err != nil {
		t.Errorf("certificate issued after New is not signed by the issuing CA: %v", err)
	}
	chain, err := a.ChainPEM(issuing.ID)
	if err != nil || string(chain) != string(iss.ChainPEM) {
		t.Errorf("ChainPEM(%s) = %v, does not match Issue's chain", issuing.ID, err)
	}

	_, _, err = a.Init(context.Background(), ca.InitRequest{})
	wantError(t, err, imprint.Conflict, "already initialised")
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	cfg := ca.Config{DataDir: e.dir, Passphrase: []byte("wrong passphrase"), PublicURL: testPublicURL, Log: discardLog()}
	if _, err := ca.New(context.Background(), cfg, e.db); err == nil {
		t.Errorf("New() with a wrong passphrase succeeded")
	}

	cfg.Passphrase = nil
	_, err := ca.New(context.Background(), cfg, e.db)
	wantError(t, err, imprint.Invalid, "passphrase is required")

	// A CA whose key file is missing fails New rather than leave it unloaded.
	cfg.Passphrase = testPassphrase
	cfg.DataDir = t.TempDir()
	if _, err := ca.New(context.Background(), cfg, e.db); err == nil {
		t.Errorf("New() without the key files succeeded")
	}

	// A key file that holds another key is refused.
	other := newEnv(t)
	if _, _, err := other.a.Init(context.Background(), ca.InitRequest{}); err != nil {
		t.Fatal(err)
	}
	cas, err := other.db.CAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := os.ReadFile(filepath.Join(other.dir, "ca", cas[1].ID+".key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	if err := os.CopyFS(cfg.DataDir, os.DirFS(e.dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "ca", issuing.ID+".key"), swapped, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ca.New(context.Background(), cfg, e.db)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("New() with another CA's key = %v, want a key mismatch error", err)
	}
}

func TestNoCA(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if e.a.Root() != nil || len(e.a.CAs()) != 0 {
		t.Errorf("Root(), CAs() = %v, %v on an empty store, want nothing", e.a.Root(), e.a.CAs())
	}
	_, err := e.a.Issue(context.Background(), ca.IssueRequest{CSR: mustDeviceCSR(t, "device-1")})
	wantError(t, err, imprint.Unavailable, "no active issuing CA")
	_, err = e.a.CreateIssuingCA(context.Background(), ca.CreateCARequest{Name: "x", Profile: imprint.DefaultProfile()})
	wantError(t, err, imprint.Unavailable, "not initialised")
}

// mustDeviceCSR returns a parsed P-256 CSR for cn with the given DNS names.
func mustDeviceCSR(tb testing.TB, cn string, dns ...string) *x509.CertificateRequest {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return mustCSR(tb, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns})
}

// mustCSR signs tpl with key and returns it as ParseCSR reads it.
func mustCSR(tb testing.TB, key crypto.Signer, tpl *x509.CertificateRequest) *x509.CertificateRequest {
	tb.Helper()
	csr, err := ca.ParseCSR(mustCSRPEM(tb, key, tpl))
	if err != nil {
		tb.Fatalf("ParseCSR() error = %v", err)
	}
	return csr
}

func mustCSRDER(tb testing.TB, key crypto.Signer, tpl *x509.CertificateRequest) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, key)
	if err != nil {
		tb.Fatalf("CreateCertificateRequest() error = %v", err)
	}
	return der
}

func mustCSRPEM(tb testing.TB, key crypto.Signer, tpl *x509.CertificateRequest) []byte {
	tb.Helper()
	return csrPEM(mustCSRDER(tb, key, tpl))
}

func csrPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func mustIssue(tb testing.TB, a *ca.Authority, req ca.IssueRequest) *ca.Issued {
	tb.Helper()
	iss, err := a.Issue(context.Background(), req)
	if err != nil {
		tb.Fatalf("Issue() error = %v", err)
	}
	return iss
}
