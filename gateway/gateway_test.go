package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/ca/catest"
	"github.com/imprint-iot/imprint/gateway"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
	"github.com/imprint-iot/imprint/provisioning"
)

func TestMain(m *testing.M) {
	code := pgtest.MainWith(m, func(ctx context.Context, db *postgres.DB) (err error) {
		caDir, err = catest.Init(ctx, db, []byte("test only"), "http://127.0.0.1:1")
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

var ctx = context.Background()

// fixture is an engine on a fresh database with a real CA, the files a
// device client needs to trust the gateway, and the listener settings of a
// gateway on 127.0.0.1.
type fixture struct {
	t      testing.TB
	dir    string
	url    string // the database's
	db     *postgres.DB
	ca     *ca.Authority
	engine *provisioning.Engine
	relay  *relay
	caFile string // the issuing CA and the root, PEM: what devices trust
	lc     gateway.ListenerConfig
	log    *slog.Logger
}

// relay passes the engine's standing changes and JITR registrations to
// the gateway made after it.
type relay struct {
	mu  sync.Mutex
	to  []provisioning.StandingListener
	reg []provisioning.RegistrationListener
}

func (r *relay) CertificateRegistered(ev provisioning.JITREvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.reg {
		l.CertificateRegistered(ev)
	}
}

// transactor runs a first connection's transactions on the test store.
type transactor struct{ db *postgres.DB }

func (t transactor) InProvisioningTx(c context.Context, fn func(provisioning.ProvisioningTx) error) error {
	return t.db.InTx(c, func(tx *postgres.Tx) error { return fn(tx) })
}

func (r *relay) Invalidate(caID, serial string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.to {
		l.Invalidate(caID, serial)
	}
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	dir := t.TempDir() // the files the test gives its clients
	auth, err := ca.New(ctx, ca.Config{DataDir: caDir, Passphrase: []byte("test only"), PublicURL: "http://127.0.0.1:1", Log: log}, db)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{}
	f := &fixture{t: t, dir: dir, url: url, db: db, ca: auth, relay: r, log: log,
		engine: provisioning.New(provisioning.Config{CA: auth, Store: db, Log: log, Standing: []provisioning.StandingListener{r},
			Registered: []provisioning.RegistrationListener{r}, Transactor: transactor{db}})}
	cert, chainPEM, err := auth.IssueServerCertificate(ctx, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	_, rest := pem.Decode(chainPEM) // the leaf; devices trust the CAs
	f.caFile = f.write("ca.pem", rest)
	f.lc = gateway.ListenerConfig{Address: "127.0.0.1:0", ServerCertificate: cert, Trust: auth, Log: log}
	return f
}

// write writes a file in the fixture's directory and returns its path.
func (f *fixture) write(name string, data []byte) string {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// device is a device's certificate and key, as files.
type device struct {
	cert           *imprint.Certificate
	certFile, keyF string
}

// device issues a certificate for a new key from the default issuing CA
// and, unless status is "", records it with that status.
func (f *fixture) device(cn string, status imprint.CertificateStatus) *device {
	f.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		f.t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		f.t.Fatal(err)
	}
	iss, err := f.ca.Issue(ctx, ca.IssueRequest{CSR: csr, Status: status})
	if err != nil {
		f.t.Fatal(err)
	}
	if status != "" {
		if err := f.db.CreateCertificates(ctx, []imprint.Certificate{iss.Certificate}, imprint.SystemActor, nil); err != nil {
			f.t.Fatal(err)
		}
	}
	return &device{cert: &iss.Certificate, certFile: f.write(cn+".crt", iss.PEM), keyF: f.writeKey(cn, key)}
}

func (f *fixture) writeKey(name string, key *ecdsa.PrivateKey) string {
	f.t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.write(name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// policy creates a policy and attaches it to the certificate.
func (f *fixture) policy(certID, name, doc string) {
	f.t.Helper()
	if _, err := f.db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.AttachPolicy(ctx, name, "certificate", certID, imprint.SystemActor); err != nil {
		f.t.Fatal(err)
	}
}

// mustTool returns the path of a command-line tool the test drives. Without
// it the test is skipped, or fails when CI is set.
func mustTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required when CI is set: %v", name, err)
		}
		t.Skipf("%s not found (CI unset, so skipping): %v", name, err)
	}
	return path
}

// eventually polls cond until it holds, or fails the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noLeak checks, when the test ends, that the goroutines started since it
// was called have ended.
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
