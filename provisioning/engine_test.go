package provisioning_test

import (
	"context"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/ca/catest"
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

// fixture is an engine on a fresh database with a real CA.
type fixture struct {
	t      *testing.T
	url    string // the database, for checks of rows
	db     *postgres.DB
	ca     *ca.Authority
	engine *provisioning.Engine
}

// quiet is the tests' logger: it writes nowhere.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newFixture(t *testing.T) *fixture {
	t.Helper()
	url := pgtest.URL(t)
	log := quiet
	db, err := postgres.Open(ctx, url, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	auth, err := ca.New(ctx, ca.Config{DataDir: caDir, Passphrase: []byte("test only"), PublicURL: "http://127.0.0.1:1", Log: log}, db)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, url: url, db: db, ca: auth, engine: provisioning.New(provisioning.Config{CA: auth, Store: db, Log: log})}
}

// newEngine returns another engine on the fixture's CA and store, with
// cfg's other settings.
func (f *fixture) newEngine(cfg provisioning.Config) *provisioning.Engine {
	cfg.CA, cfg.Store, cfg.Log = f.ca, f.db, quiet
	return provisioning.New(cfg)
}

// otherReplica opens another store on the fixture's database, as another
// replica of the server would have.
func (f *fixture) otherReplica() *postgres.DB {
	f.t.Helper()
	db, err := postgres.Open(ctx, f.url, quiet)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(db.Close)
	return db
}

// issue signs and records an ACTIVE certificate for a new key with the
// given subject.
func (f *fixture) issue(subject pkix.Name) *imprint.Certificate {
	f.t.Helper()
	c := f.sign(subject, "")
	if err := f.db.CreateCertificates(ctx, []imprint.Certificate{*c}, imprint.SystemActor, nil); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// count runs a query that returns one integer.
func (f *fixture) count(sql string) int {
	f.t.Helper()
	var n int
	if err := pgtest.Conn(f.t, f.url).QueryRow(ctx, sql).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return n
}
