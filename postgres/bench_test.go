package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// BenchmarkCreateCertificates measures recording certificates with their
// audit events: one per call from many goroutines (group commit), and
// batches of 500 (the batch API).
func BenchmarkCreateCertificates(b *testing.B) {
	for _, size := range []int{1, 500} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			db := pgtest.Open(b)
			ca := mustCA(b, db)
			batches := make([][]imprint.Certificate, 0, 64)
			for range cap(batches) {
				batch := make([]imprint.Certificate, size)
				for i := range batch {
					batch[i] = newCert(ca.ID, "bench")
				}
				batches = append(batches, batch)
			}
			b.SetParallelism(8)
			b.ResetTimer()
			var n int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					// Fresh IDs and serials each time: the rows are new.
					batch := batches[int(n)%len(batches)]
					fresh := make([]imprint.Certificate, len(batch))
					for i, c := range batch {
						c.ID, c.Serial = randomHex(32), randomHex(16)
						fresh[i] = c
					}
					if err := db.CreateCertificates(ctx, fresh, imprint.SystemActor, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkBulkRevoke revokes every certificate a CA issued in a window, as
// one bulk job in bounded transactions, each certificate with its audit event.
func BenchmarkBulkRevoke(b *testing.B) {
	const n = 100_000
	for range b.N {
		b.StopTimer()
		db := pgtest.Open(b)
		ca := mustCA(b, db)
		if _, err := db.CountForTest(ctx, fmt.Sprintf(`WITH ins AS (
			INSERT INTO certificates (id, serial, ca_id, subject, common_name, key_algorithm, not_before, not_after, status, der)
			SELECT encode(sha256(int8send(i)), 'hex'), to_hex(i), '%s', 'CN=d', 'd', 'EC-P256', now(), now() + interval '1 day',
				'ACTIVE', '\x30'::bytea FROM generate_series(1, %d) AS i RETURNING 1) SELECT count(*) FROM ins`, ca.ID, n)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		job, err := db.CreateRevocationJob(ctx, imprint.RevocationSelector{CAID: ca.ID,
			IssuedAfter: time.Now().Add(-time.Hour)}, imprint.ReasonCACompromise, imprint.SystemActor)
		if err != nil {
			b.Fatal(err)
		}
		job, err = db.RunRevocationJob(ctx, job.ID, "bench", time.Now().Add(time.Hour))
		if err != nil || job.Status != imprint.JobSucceeded || job.Revoked != n {
			b.Fatalf("job = %+v, %v", job, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "revocations/s")
}

// BenchmarkIdempotentCreate measures an issuing request with an
// Idempotency-Key, one certificate each, from many goroutines: the look-up of
// the key, then the certificate recorded with the response.
func BenchmarkIdempotentCreate(b *testing.B) {
	db := pgtest.Open(b)
	ca := mustCA(b, db)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key, req := sha(b, randomHex(16)), sha(b, "body")
			if rec, err := db.IdempotentRecord(ctx, "tok", key); err != nil || rec != nil {
				b.Errorf("IdempotentRecord() = %v, %v", rec, err)
				return
			}
			idem := &imprint.IdempotentResponse{TokenID: "tok", KeyHash: key, RequestHash: req, StatusCode: 201, Body: []byte(`{}`)}
			if err := db.CreateCertificates(ctx, []imprint.Certificate{newCert(ca.ID, "bench")}, imprint.SystemActor, idem); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
