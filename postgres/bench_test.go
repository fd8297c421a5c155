package postgres_test

import (
	"fmt"
	"testing"

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
