package ca_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// fillRevoked stores n revoked certificates of the CA straight in SQL: the
// rows a CRL is built from, without issuing a million certificates first.
func fillRevoked(tb testing.TB, url, caID string, n int) {
	tb.Helper()
	conn := pgtest.Conn(tb, url)
	_, err := conn.Exec(context.Background(), `
		INSERT INTO certificates (id, serial, ca_id, subject, common_name, key_algorithm, not_before, not_after,
			status, der, revoked_at, revocation_reason, revoked_by, status_changed_at)
		SELECT encode(sha256(int8send(i)), 'hex'), encode(substr(sha256(int4send(i::int)), 1, 16), 'hex'), $1,
			'CN=d' || i, 'd' || i, 'EC-P256', now() - interval '1 day', now() + interval '3650 days',
			'REVOKED', '\x30'::bytea, now() - interval '1 day', (i % 6)::smallint, 'bench', now() - interval '1 day'
		FROM generate_series(1, $2::int) AS i`, caID, n)
	if err != nil {
		tb.Fatalf("fill: %v", err)
	}
	if _, err := conn.Exec(context.Background(), `ANALYZE certificates`); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPublishCRL builds, signs and stores a full CRL (and its delta)
// from the database rows, for CAs with 10,000 to 1,000,000 revoked
// certificates, and reports the process's peak resident memory.
func BenchmarkPublishCRL(b *testing.B) {
	// The garbage collector as imprint serve sets it.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(320 << 20))
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			e, _, issuing := mustInitEnv(b, imprint.KeyECDSAP256)
			fillRevoked(b, e.url, issuing.ID, n)
			pub := ca.NewCRLPublisher(e.a, e.db, ca.CRLOptions{}, discardLog())
			runtime.GC()
			b.ResetTimer()
			for range b.N {
				sign := func(t imprint.CRLTemplate, entries imprint.CRLEntries) ([]byte, error) {
					return e.a.SignCRL(issuing.ID, t, entries)
				}
				crl, err := e.db.PublishCRL(context.Background(), issuing.ID, 24*time.Hour, sign)
				if err != nil || crl == nil || crl.Entries != n {
					b.Fatalf("PublishCRL() = %v, %v", crl, err)
				}
			}
			b.StopTimer()
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
			crl, err := pub.CRL(context.Background(), issuing.ID, false)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(crl.DER))/1e6, "CRL-MB")
			if n == 10_000 { // check the result once
				l, err := x509.ParseRevocationList(crl.DER)
				if err != nil || len(l.RevokedCertificateEntries) != n {
					b.Fatalf("parse CRL: %v (%d entries)", err, len(l.RevokedCertificateEntries))
				}
			}
		})
	}
}

// BenchmarkRevokeToCRL measures the time from a revoke call's commit to a
// published CRL listing it, with the publisher running as in the server.
func BenchmarkRevokeToCRL(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			e, _, issuing := mustInitEnv(b, imprint.KeyECDSAP256)
			fillRevoked(b, e.url, issuing.ID, n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pub := ca.NewCRLPublisher(e.a, e.db, ca.CRLOptions{}, discardLog())
			listening := make(chan struct{})
			var once sync.Once
			go e.db.Listen(ctx, func(channel, payload string) {
				if payload == "" { // the listener's first word: it listens
					once.Do(func() { close(listening) })
				}
				pub.Notify(channel, payload)
			}, imprint.ChannelRevocations, imprint.ChannelCRLs)
			go pub.Run(ctx)
			conn := pgtest.Conn(b, e.url)
			waitFor(b, 30*time.Second, func() (bool, string) {
				select {
				case <-listening:
				default:
					return false, "the listener does not listen yet"
				}
				_, err := e.db.LatestCRL(ctx, issuing.ID, false)
				return err == nil, fmt.Sprintf("the first CRL: %v", err)
			})
			b.ResetTimer()
			var total time.Duration
			for i := range b.N {
				id := mustActiveCert(b, conn, issuing.ID, i)
				start := time.Now()
				if _, err := e.db.RevokeCertificate(ctx, id, imprint.ReasonKeyCompromise, imprint.SystemActor); err != nil {
					b.Fatal(err)
				}
				want := n + i + 1
				for deadline := start.Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					crl, err := e.db.LatestCRL(ctx, issuing.ID, false)
					if err == nil && crl.Entries >= want {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("no CRL lists %d entries 30 s after the revocation (last: %v, %v)", want, crl, err)
					}
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-CRL")
		})
	}
}

func mustActiveCert(tb testing.TB, conn *pgx.Conn, caID string, i int) string {
	tb.Helper()
	id := fmt.Sprintf("%064x", 1_000_000_000+i)
	_, err := conn.Exec(context.Background(), `INSERT INTO certificates (id, serial, ca_id, subject, common_name,
		key_algorithm, not_before, not_after, status, der) VALUES ($1, $2, $3, 'CN=x', 'x', 'EC-P256', now(),
		now() + interval '1 day', 'ACTIVE', '\x30'::bytea)`, id, fmt.Sprintf("%x", 1_000_000_000+i), caID)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
