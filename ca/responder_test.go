package ca_test

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// TestOCSPSignerRotation checks that the responder makes a delegated signer
// (OCSP signing, no-check) dated on its clock, and replaces it once a third
// of its life is left, not before.
func TestOCSPSignerRotation(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	clock := newClock(time.Now())
	const validity = time.Minute // short enough that a signer made later is valid now in the database
	r := ca.NewOCSPResponder(e.a, e.db, ca.OCSPOptions{SignerValidity: validity, Now: clock.Now}, discardLog())
	iss := mustIssue(t, e.a, ca.IssueRequest{CSR: mustDeviceCSR(t, "rot-1")})
	if err := e.db.CreateCertificates(context.Background(), []imprint.Certificate{iss.Certificate}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	leaf := mustParseCert(t, iss.Certificate.DER)
	issuer := mustParseCert(t, issuing.DER)
	signerOf := func() *x509.Certificate {
		t.Helper()
		r.Invalidate("", "") // drop kept responses, so that each is signed anew
		req, _ := ocsp.CreateRequest(leaf, issuer, nil)
		der, _ := r.Respond(context.Background(), issuing.ID, req)
		resp, err := ocsp.ParseResponseForCert(der, leaf, issuer)
		if err != nil || resp.Status != ocsp.Good || resp.Certificate == nil {
			t.Fatalf("response = %+v, %v; want good, with the signer", resp, err)
		}
		if len(resp.Certificate.ExtKeyUsage) != 1 || resp.Certificate.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
			t.Fatalf("signer EKU = %v, want OCSP signing only", resp.Certificate.ExtKeyUsage)
		}
		if now := clock.Now().UTC().Truncate(time.Second); !resp.ThisUpdate.Equal(now) {
			t.Errorf("thisUpdate = %v, want the responder's clock, %v", resp.ThisUpdate, now)
		}
		return resp.Certificate
	}
	first := signerOf()
	if want := clock.Now().UTC().Truncate(time.Second).Add(validity); !first.NotAfter.Equal(want) {
		t.Fatalf("signer notAfter = %v, want %v (the responder's clock plus its validity)", first.NotAfter, want)
	}
	clock.Set(first.NotAfter.Add(-validity/3 - time.Second))
	if again := signerOf(); !again.Equal(first) {
		t.Fatal("the signer changed with more than a third of its life left")
	}
	clock.Set(first.NotAfter.Add(-validity/3 + time.Second))
	next := signerOf()
	if next.Equal(first) {
		t.Fatal("the signer was not replaced with less than a third of its life left")
	}
	if want := clock.Now().UTC().Truncate(time.Second).Add(validity); !next.NotAfter.Equal(want) {
		t.Errorf("new signer notAfter = %v, want %v", next.NotAfter, want)
	}
	if again := signerOf(); !again.Equal(next) {
		t.Error("the new signer was replaced at once")
	}
}

// clock is a time source that tests set; it stands still in between.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// signerLookups counts a responder's reads of OCSP signers in the store.
type signerLookups struct {
	*postgres.DB
	n atomic.Int32
}

func (s *signerLookups) OCSPSigner(ctx context.Context, caID string, validUntil time.Time) (*imprint.OCSPSigner, error) {
	s.n.Add(1)
	return s.DB.OCSPSigner(ctx, caID, validUntil)
}

func (s *signerLookups) OCSPSignerOrCreate(ctx context.Context, caID string, validUntil time.Time,
	create func(context.Context) (*imprint.OCSPSigner, error)) (*imprint.OCSPSigner, error) {
	s.n.Add(1)
	return s.DB.OCSPSignerOrCreate(ctx, caID, validUntil, create)
}

// TestOCSPSignerConcurrentFirstRequests sends the first OCSP requests for a
// CA all at once, to two responders standing in for two replicas (each with
// its own Authority over one database and data directory): they make one
// delegated signer between them, with one key file, every response is signed
// by it, and each replica looks for it once (a read, and the locked read
// that finds none and makes it).
func TestOCSPSignerConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	stores := []*signerLookups{{DB: e.db}, {DB: e.db}}
	replicas := []*ca.OCSPResponder{
		ca.NewOCSPResponder(e.a, stores[0], ca.OCSPOptions{}, discardLog()),
		ca.NewOCSPResponder(mustNew(t, e.db, e.dir), stores[1], ca.OCSPOptions{}, discardLog()),
	}
	leaf, issuer, req := mustOCSPRequest(t, e, issuing, "race-1")
	const n = 32
	answers := make([][]byte, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i], _ = replicas[i%2].Respond(context.Background(), issuing.ID, req)
		}()
	}
	close(start)
	wg.Wait()
	var signer *x509.Certificate
	for i, der := range answers {
		resp, err := ocsp.ParseResponseForCert(der, leaf, issuer) // checks the signature and the signer
		if err != nil || resp.Status != ocsp.Good || resp.Certificate == nil {
			t.Fatalf("response %d = %+v, %v; want good, with the signer", i, resp, err)
		}
		if signer == nil {
			signer = resp.Certificate
		} else if !resp.Certificate.Equal(signer) {
			t.Errorf("response %d is signed by signer %x, response 0 by %x", i, resp.Certificate.SerialNumber, signer.SerialNumber)
		}
	}
	var rows int
	if err := pgtest.Conn(t, e.url).QueryRow(context.Background(), `SELECT count(*) FROM ocsp_signers WHERE ca_id = $1`,
		issuing.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	keys, err := filepath.Glob(filepath.Join(e.dir, "ca", "ocsp-*.key"))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || len(keys) != 1 {
		t.Errorf("%d concurrent first requests made %d signers and %d key files, want 1 and 1", n, rows, len(keys))
	}
	for i, s := range stores {
		if got := s.n.Load(); got > 2 {
			t.Errorf("replica %d read OCSP signers from the store %d times for %d requests, want at most 2", i, got, n/2)
		}
	}
}

// TestOCSPSignerNotRecordedLeavesNoKey checks that a signer the database
// refuses to record leaves no key file behind, and that the next request
// makes one.
func TestOCSPSignerNotRecordedLeavesNoKey(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	conn := pgtest.Conn(t, e.url)
	if _, err := conn.Exec(context.Background(), `
		CREATE FUNCTION refuse_signer() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'no signer today'; END $$;
		CREATE TRIGGER refuse_signer BEFORE INSERT ON ocsp_signers FOR EACH ROW EXECUTE FUNCTION refuse_signer()`); err != nil {
		t.Fatal(err)
	}
	r := ca.NewOCSPResponder(e.a, e.db, ca.OCSPOptions{}, discardLog())
	leaf, issuer, req := mustOCSPRequest(t, e, issuing, "refused-1")
	keyFiles := func() int {
		t.Helper()
		keys, err := filepath.Glob(filepath.Join(e.dir, "ca", "ocsp-*.key"))
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	der, _ := r.Respond(context.Background(), issuing.ID, req)
	if _, err := ocsp.ParseResponse(der, issuer); err == nil || err.Error() != "ocsp: error from server: internal error" {
		t.Fatalf("response with the signer refused: %v, want internalError", err)
	}
	if n := keyFiles(); n != 0 {
		t.Errorf("the refused signer left %d key files, want 0", n)
	}
	if _, err := conn.Exec(context.Background(), `DROP TRIGGER refuse_signer ON ocsp_signers`); err != nil {
		t.Fatal(err)
	}
	der, _ = r.Respond(context.Background(), issuing.ID, req)
	if resp, err := ocsp.ParseResponseForCert(der, leaf, issuer); err != nil || resp.Status != ocsp.Good {
		t.Fatalf("response once signers are recorded = %+v, %v; want good", resp, err)
	}
	if n := keyFiles(); n != 1 {
		t.Errorf("%d key files, want 1", n)
	}
}

// TestOCSPSignerNearTheEndOfItsCA checks that a CA whose life ends before a
// signer's would need replacing gets one signer, not one per response: no
// signer can outlive its CA.
func TestOCSPSignerNearTheEndOfItsCA(t *testing.T) {
	t.Parallel()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	r := ca.NewOCSPResponder(e.a, e.db, ca.OCSPOptions{SignerValidity: 100 * 365 * 24 * time.Hour}, discardLog())
	leaf, issuer, req := mustOCSPRequest(t, e, issuing, "short-1")
	var first *x509.Certificate
	for i := range 3 {
		r.Invalidate("", "") // sign every response anew
		der, _ := r.Respond(context.Background(), issuing.ID, req)
		resp, err := ocsp.ParseResponseForCert(der, leaf, issuer)
		if err != nil || resp.Status != ocsp.Good || resp.Certificate == nil {
			t.Fatalf("response %d = %+v, %v; want good, with the signer", i, resp, err)
		}
		if !resp.Certificate.NotAfter.Equal(issuer.NotAfter) {
			t.Errorf("signer expires %v, want with its CA at %v", resp.Certificate.NotAfter, issuer.NotAfter)
		}
		if first == nil {
			first = resp.Certificate
		} else if !resp.Certificate.Equal(first) {
			t.Fatalf("response %d has a new signer", i)
		}
	}
}

// mustOCSPRequest records a certificate of the CA and returns it, its
// issuer and an OCSP request about it.
func mustOCSPRequest(tb testing.TB, e *env, issuing *imprint.CA, cn string) (leaf, issuer *x509.Certificate, req []byte) {
	tb.Helper()
	iss := mustIssue(tb, e.a, ca.IssueRequest{CSR: mustDeviceCSR(tb, cn)})
	if err := e.db.CreateCertificates(context.Background(), []imprint.Certificate{iss.Certificate}, imprint.SystemActor, nil); err != nil {
		tb.Fatal(err)
	}
	leaf, issuer = mustParseCert(tb, iss.Certificate.DER), mustParseCert(tb, issuing.DER)
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return leaf, issuer, req
}
