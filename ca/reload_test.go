package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// TestReload checks Reload picks up a CA's new status and profile, as an
// operator's change in the database would make them.
func TestReload(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	ctx := context.Background()
	conn := pgtest.Conn(t, e.url)
	update := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, append(args, issuing.ID)...); err != nil {
			t.Fatal(err)
		}
		if err := e.a.Reload(ctx); err != nil {
			t.Fatalf("Reload() error = %v", err)
		}
	}
	csr := mustDeviceCSR(t, "device-1")

	update(`UPDATE cas SET status = 'INACTIVE' WHERE id = $1`)
	_, err := e.a.Issue(ctx, ca.IssueRequest{CSR: csr, CAID: issuing.ID})
	wantError(t, err, imprint.Conflict, "is INACTIVE")
	_, err = e.a.Issue(ctx, ca.IssueRequest{CSR: csr})
	wantError(t, err, imprint.Unavailable, "no active issuing CA")

	update(`UPDATE cas SET status = 'ACTIVE' WHERE id = $1`)
	mustIssue(t, e.a, ca.IssueRequest{CSR: csr})

	update(`UPDATE cas SET profile = $1 WHERE id = $2`, strictProfile)
	if got, _ := e.a.CA(issuing.ID); !reflect.DeepEqual(got.Profile, strictProfile) {
		t.Errorf("CA(%s).Profile = %+v after Reload, want %+v", issuing.ID, got.Profile, strictProfile)
	}
	_, err = e.a.Issue(ctx, ca.IssueRequest{CSR: csr})
	wantError(t, err, imprint.Forbidden, "does not match the pattern")
	_, err = e.a.Issue(ctx, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-0000000a"), ValidityDays: 366})
	wantError(t, err, imprint.Invalid, "between 1 and 365")
	mustIssue(t, e.a, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-0000000a")})
}

// TestIssueConcurrent issues from many goroutines with one shared CSR: every
// certificate must get its own serial, and so its own ID.
func TestIssueConcurrent(t *testing.T) {
	t.Parallel()
	const n, workers = 200, 16
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	csr := mustDeviceCSR(t, "device-1")
	issued := make([]*ca.Issued, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				iss, err := e.a.Issue(context.Background(), ca.IssueRequest{CSR: csr})
				if err != nil {
					t.Errorf("Issue() error = %v", err)
					return
				}
				issued[i] = iss
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	issCert := mustParseCert(t, issuing.DER)
	serials, ids := map[string]bool{}, map[string]bool{}
	maxBits := 0
	for _, iss := range issued {
		leaf := mustParseCert(t, iss.Certificate.DER)
		if err := leaf.CheckSignatureFrom(issCert); err != nil {
			t.Errorf("certificate %s does not verify: %v", iss.Certificate.ID, err)
		}
		if bits := leaf.SerialNumber.BitLen(); bits > 128 {
			t.Errorf("serial %s has %d bits, want at most 128", iss.Certificate.Serial, bits)
		} else {
			maxBits = max(maxBits, bits)
		}
		serials[iss.Certificate.Serial] = true
		ids[iss.Certificate.ID] = true
	}
	if len(serials) != n || len(ids) != n {
		t.Errorf("%d certificates have %d distinct serials and %d distinct IDs", n, len(serials), len(ids))
	}
	// 200 random 128-bit serials all shorter than 121 bits: probability 2^-1400.
	if maxBits <= 120 {
		t.Errorf("longest serial has %d bits, want 128-bit random serials", maxBits)
	}
}

// TestIssueDuringReload issues while CAs are created and reloaded, for the
// race detector.
func TestIssueDuringReload(t *testing.T) {
	t.Parallel()
	e, _, _ := mustInitEnv(t, imprint.KeyECDSAP256)
	csr := mustDeviceCSR(t, "device-1")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := e.a.Issue(context.Background(), ca.IssueRequest{CSR: csr}); err != nil {
					t.Errorf("Issue() error = %v", err)
					return
				}
			}
		})
	}
	for _, name := range []string{"extra-a", "extra-b"} {
		mustCreateCA(t, e.a, name, imprint.DefaultProfile())
		if err := e.a.Reload(context.Background()); err != nil {
			t.Errorf("Reload() error = %v", err)
		}
	}
	wg.Wait()
	if got := len(e.a.CAs()); got != 4 {
		t.Errorf("CAs() = %d CAs, want 4", got)
	}
}

// TestReloadSurvivesAnUnloadableKey loses the key file of one issuing CA: a
// new authority on the same store starts all the same, issues with the other
// CA, says the lost one's key is not loaded, and picks the key up again once
// it is back.
func TestReloadSurvivesAnUnloadableKey(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	ctx := context.Background()
	second, err := e.a.CreateIssuingCA(ctx, ca.CreateCARequest{Name: "second", Profile: imprint.DefaultProfile()})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(e.dir, strings.TrimPrefix(second.KeyURI, "softkms:path="))
	saved, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("key file of %s: %v", second.KeyURI, err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	a := mustNew(t, e.db, e.dir)
	mustIssue(t, a, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-1"), CAID: issuing.ID})
	_, err = a.Issue(ctx, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-2"), CAID: second.ID})
	wantError(t, err, imprint.Unavailable, "not loaded")
	if strings.Contains(imprint.ErrorMessage(err), e.dir) {
		t.Errorf("the message shows the key's location: %q", imprint.ErrorMessage(err))
	}
	if err := os.WriteFile(keyFile, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	mustIssue(t, a, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-2"), CAID: second.ID})
}

// TestTrustPool checks that the pool a device listener trusts holds the
// ACTIVE CAs that sign devices, internal and external, and follows status
// changes on Reload.
func TestTrustPool(t *testing.T) {
	t.Parallel()
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	ctx := context.Background()
	external := mustExternalCA(t, e.db, "Customer Devices CA")
	if err := e.a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	trusted := func(c *imprint.CA) bool {
		cert := mustParseCert(t, c.DER)
		for _, s := range e.a.TrustPool().Subjects() { //nolint:staticcheck // comparing subjects is enough here
			if string(s) == string(cert.RawSubject) {
				return true
			}
		}
		return false
	}
	if !trusted(issuing) || !trusted(external) || trusted(root) {
		t.Errorf("trust: issuing %v, external %v, root %v; want true, true, false", trusted(issuing), trusted(external), trusted(root))
	}
	inactive := imprint.CAInactive
	if _, err := e.db.UpdateCA(ctx, external.ID, imprint.CAUpdate{Status: &inactive}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if trusted(external) || !trusted(issuing) {
		t.Errorf("after deactivating the external CA: external %v, issuing %v; want false, true", trusted(external), trusted(issuing))
	}
	_, err := e.a.Issue(ctx, ca.IssueRequest{CSR: mustDeviceCSR(t, "device-1"), CAID: external.ID})
	wantError(t, err, imprint.Invalid, "external")
}

// mustExternalCA records a customer's CA, self-signed, whose key Imprint
// never sees.
func mustExternalCA(tb testing.TB, db *postgres.DB, cn string) *imprint.CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	c := &imprint.CA{
		ID: hex.EncodeToString(sum[:]), Name: cn, Role: imprint.CAExternal, Status: imprint.CAActive,
		Subject: "CN=" + cn, CommonName: cn, Serial: "07", KeyAlgorithm: imprint.KeyECDSAP256, DER: der,
		NotBefore: tpl.NotBefore, NotAfter: tpl.NotAfter, Profile: imprint.DefaultProfile(),
	}
	if err := db.CreateCA(context.Background(), c, imprint.SystemActor); err != nil {
		tb.Fatalf("CreateCA(external) error = %v", err)
	}
	return c
}
