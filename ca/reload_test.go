package ca_test

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
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
	wantError(t, err, imprint.Invalid, "does not match the pattern")
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
