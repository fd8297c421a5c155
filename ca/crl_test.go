package ca_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// TestDeltaCRLListsOnlyChanges checks that a delta CRL lists what changed
// since its base (RFC 5280 5.2.4): revocations, holds, and releases from hold
// as removeFromCRL (5.3.1); never a certificate that was merely issued or
// activated.
func TestDeltaCRLListsOnlyChanges(t *testing.T) {
	t.Parallel()
	openssl := mustOpenSSL(t)
	ctx := context.Background()
	e, root, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	issuer := mustParseCert(t, issuing.DER)
	var base *x509.RevocationList // the first full CRL: every delta's base
	publish := func() (full, delta *x509.RevocationList, deltaDER []byte) {
		t.Helper()
		sign := func(tpl imprint.CRLTemplate, entries imprint.CRLEntries) ([]byte, error) {
			return e.a.SignCRL(issuing.ID, tpl, entries)
		}
		c, err := e.db.PublishCRL(ctx, issuing.ID, 24*time.Hour, sign)
		if err != nil || c == nil {
			t.Fatalf("PublishCRL() = %v, %v", c, err)
		}
		full = mustParseCRL(t, c.DER, issuer)
		if base == nil {
			base = full
		}
		d, err := e.db.LatestCRL(ctx, issuing.ID, true)
		if err != nil || d.Number != c.Number || d.BaseNumber != base.Number.Int64() {
			t.Fatalf("LatestCRL(delta) = %+v, %v; want number %d", d, err, c.Number)
		}
		return full, mustParseCRL(t, d.DER, issuer), d.DER
	}
	setStatus := func(id string, to imprint.CertificateStatus) {
		t.Helper()
		if _, err := e.db.SetCertificateStatus(ctx, id, to, imprint.SystemActor); err != nil {
			t.Fatalf("SetCertificateStatus(%s) = %v", to, err)
		}
	}

	// On hold since an hour before the base CRL (so before the window a delta
	// looks back over), released after it.
	heldAtBase := mustIssueStored(t, e, "held-at-base", imprint.CertificateActive, 1)[0]
	setStatus(heldAtBase.ID, imprint.CertificateInactive)
	if _, err := pgtest.Conn(t, e.url).Exec(ctx, `UPDATE certificates SET status_changed_at = now() - interval '1 hour'
		WHERE id = $1`, heldAtBase.ID); err != nil {
		t.Fatal(err)
	}
	publish()
	wantEntries(t, "base CRL", base, map[string]int{heldAtBase.Serial: 6})

	certs := mustIssueStored(t, e, "delta", imprint.CertificateActive, 1000)
	pending := mustIssueStored(t, e, "pending", imprint.CertificatePendingActivation, 1)[0]
	setStatus(pending.ID, imprint.CertificateActive) // activated, never held
	revoked := certs[17]
	if _, err := e.db.RevokeCertificate(ctx, revoked.ID, imprint.ReasonKeyCompromise, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	_, delta, der := publish()
	wantEntries(t, "delta after 1,001 issued and 1 revoked", delta, map[string]int{revoked.Serial: 1})
	wantOpenSSLCRL(t, openssl, root, issuing, der, 1, 0)

	heldAfterBase := certs[400]
	setStatus(heldAfterBase.ID, imprint.CertificateInactive)
	_, delta, _ = publish()
	wantEntries(t, "delta with a hold", delta, map[string]int{revoked.Serial: 1, heldAfterBase.Serial: 6})
	setStatus(heldAfterBase.ID, imprint.CertificateActive)
	setStatus(heldAtBase.ID, imprint.CertificateActive)
	full, delta, der := publish()
	wantEntries(t, "delta after the releases", delta,
		map[string]int{revoked.Serial: 1, heldAfterBase.Serial: 8, heldAtBase.Serial: 8})
	wantEntries(t, "full CRL after the releases", full, map[string]int{revoked.Serial: 1})
	wantOpenSSLCRL(t, openssl, root, issuing, der, 3, 2)
}

// dirtyReads counts a publisher's reads of the CRLs marked out of date: it
// makes one after each of its rounds.
type dirtyReads struct {
	*postgres.DB
	n atomic.Int32
}

func (s *dirtyReads) DirtyCRLs(ctx context.Context) ([]string, error) {
	defer s.n.Add(1)
	return s.DB.DirtyCRLs(ctx)
}

// TestCRLRebuildAge checks that the publisher rebuilds an unchanged CRL once
// it is RebuildAfter old on its clock, and not before.
func TestCRLRebuildAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, _, issuing := mustInitEnv(t, imprint.KeyECDSAP256)
	clock := newClock(time.Now())
	store := &dirtyReads{DB: e.db}
	pub := ca.NewCRLPublisher(e.a, store, ca.CRLOptions{Validity: 24 * time.Hour, RebuildAfter: time.Hour, Now: clock.Now}, discardLog())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	latest := func() (number int64, state string) {
		c, err := e.db.LatestCRL(ctx, issuing.ID, false)
		if err != nil {
			return 0, err.Error()
		}
		return c.Number, fmt.Sprintf("the latest CRL is number %d", c.Number)
	}
	waitFor(t, 10*time.Second, func() (bool, string) { n, s := latest(); return n > 0, s })
	first, err := e.db.LatestCRL(ctx, issuing.ID, false)
	if err != nil {
		t.Fatal(err)
	}

	clock.Set(first.ThisUpdate.Add(time.Hour - time.Second))
	rounds := store.n.Load()
	waitFor(t, 10*time.Second, func() (bool, string) { // a whole round began after the clock moved
		return store.n.Load() >= rounds+2, fmt.Sprintf("%d rounds", store.n.Load()-rounds)
	})
	if n, s := latest(); n != first.Number {
		t.Fatalf("a CRL a second short of RebuildAfter old was rebuilt: %s, want %d", s, first.Number)
	}

	clock.Set(first.ThisUpdate.Add(time.Hour))
	waitFor(t, 10*time.Second, func() (bool, string) { n, s := latest(); return n > first.Number, s })
}

// mustIssueStored issues n certificates of the default issuing CA with the
// given status and records them.
func mustIssueStored(tb testing.TB, e *env, prefix string, status imprint.CertificateStatus, n int) []imprint.Certificate {
	tb.Helper()
	certs := make([]imprint.Certificate, n)
	csr := mustDeviceCSR(tb, prefix)
	for i := range certs {
		iss, err := e.a.Issue(context.Background(), ca.IssueRequest{CSR: csr, Status: status})
		if err != nil {
			tb.Fatalf("Issue(%s %d) = %v", prefix, i, err)
		}
		certs[i] = iss.Certificate
	}
	if err := e.db.CreateCertificates(context.Background(), certs, imprint.SystemActor, nil); err != nil {
		tb.Fatal(err)
	}
	return certs
}

func mustParseCRL(tb testing.TB, der []byte, issuer *x509.Certificate) *x509.RevocationList {
	tb.Helper()
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		tb.Fatalf("ParseRevocationList() = %v", err)
	}
	if err := l.CheckSignatureFrom(issuer); err != nil {
		tb.Fatalf("CRL signature: %v", err)
	}
	return l
}

// wantEntries checks that l lists exactly the serials of want, each with its
// reason code.
func wantEntries(tb testing.TB, what string, l *x509.RevocationList, want map[string]int) {
	tb.Helper()
	if l == nil {
		tb.Fatalf("%s: no CRL", what)
	}
	got := map[string]int{}
	for _, e := range l.RevokedCertificateEntries {
		got[e.SerialNumber.Text(16)] = e.ReasonCode
	}
	if len(got) != len(want) {
		tb.Fatalf("%s: %d entries, want %d (%v)", what, len(got), len(want), want)
	}
	for serial, reason := range want {
		if r, ok := got[serial]; !ok || r != reason {
			tb.Errorf("%s: serial %s has reason %d (listed: %v), want %d", what, serial, r, ok, reason)
		}
	}
}

// wantOpenSSLCRL checks a delta CRL with `openssl crl`: its signature, that
// it is a delta, and how many entries and removeFromCRL entries it has.
func wantOpenSSLCRL(tb testing.TB, openssl string, root, issuing *imprint.CA, der []byte, entries, removals int) {
	tb.Helper()
	dir := tb.TempDir()
	chain := filepath.Join(dir, "chain.pem")
	crl := filepath.Join(dir, "delta.crl")
	pems := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuing.DER})
	pems = append(pems, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.DER})...)
	if err := os.WriteFile(chain, pems, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(crl, der, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", crl, "-CAfile", chain, "-noout", "-text").CombinedOutput()
	text := string(out)
	if err != nil || !strings.Contains(text, "verify OK") || !strings.Contains(text, "Delta CRL Indicator") {
		tb.Fatalf("openssl crl: %v\n%s", err, text)
	}
	got := fmt.Sprint(strings.Count(text, "Serial Number:"), " entries, ", strings.Count(text, "Remove From CRL"), " removeFromCRL")
	if want := fmt.Sprint(entries, " entries, ", removals, " removeFromCRL"); got != want {
		tb.Errorf("openssl crl sees %s, want %s:\n%.2000s", got, want, text)
	}
}
