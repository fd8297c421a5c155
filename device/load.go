package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions shape an issuing load run.
type LoadOptions struct {
	Count       int    // certificates to issue
	Concurrency int    // requests in flight
	Batch       int    // CSRs per request; 1 uses POST /v1/certificates, more the batch endpoint
	CAID        string // "" for the default CA
}

// LoadResult is what a load run measured. Latencies are per request.
type LoadResult struct {
	Issued        int
	Failed        int
	Elapsed       time.Duration
	PerSecond     float64
	P50, P95, P99 time.Duration
	FirstError    error
}

// PrepareCSRs makes n P-256 keys and CSRs on every core, before any clock
// starts.
func PrepareCSRs(n int) ([][]byte, error) {
	csrs := make([][]byte, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err == nil {
					csrs[i], err = NewCSR(key, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return csrs, firstErr
}

// RunIssueLoad issues one certificate per CSR through c, with the requested
// concurrency and batch size, and measures throughput and latency.
func RunIssueLoad(ctx context.Context, c *Client, csrs [][]byte, o LoadOptions) *LoadResult {
	if o.Batch < 1 {
		o.Batch = 1
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	// Request bodies are encoded before the clock starts, so that the
	// client spends its share of the machine on HTTP, not on JSON.
	var chunks []chunk
	for i := 0; i < len(csrs); i += o.Batch {
		c := chunk{csrs: len(csrs[i:min(i+o.Batch, len(csrs))])}
		c.body = encodeChunk(csrs[i:i+c.csrs], o)
		chunks = append(chunks, c)
	}
	var (
		next      atomic.Int64
		issued    atomic.Int64
		failed    atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, len(chunks))
		res       = &LoadResult{}
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(chunks) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				t0 := time.Now()
				ok, bad, err := issueChunk(ctx, c, chunks[i], o)
				d := time.Since(t0)
				issued.Add(int64(ok))
				failed.Add(int64(bad))
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil && res.FirstError == nil {
					res.FirstError = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Issued, res.Failed = int(issued.Load()), int(failed.Load())
	res.PerSecond = float64(res.Issued) / res.Elapsed.Seconds()
	slices.Sort(latencies)
	res.P50, res.P95, res.P99 = percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99)
	return res
}

// chunk is one request of a load run.
type chunk struct {
	body []byte
	csrs int
}

func encodeChunk(csrs [][]byte, o LoadOptions) []byte {
	if o.Batch == 1 {
		b, _ := json.Marshal(map[string]string{"csr": string(csrs[0]), "caId": o.CAID})
		return b
	}
	list := make([]string, len(csrs))
	for i, c := range csrs {
		list[i] = string(c)
	}
	b, _ := json.Marshal(map[string]any{"csrs": list, "caId": o.CAID})
	return b
}

// issueChunk sends one request. A single issue is counted by its 201 alone;
// a batch's answer is decoded for its counts.
func issueChunk(ctx context.Context, c *Client, ch chunk, o LoadOptions) (ok, bad int, err error) {
	if o.Batch == 1 {
		if _, err := c.postRaw(ctx, "/v1/certificates", ch.body, ""); err != nil {
			return 0, 1, err
		}
		return 1, 0, nil
	}
	data, err := c.postRaw(ctx, "/v1/certificates/batch", ch.body, "")
	if err != nil {
		return 0, ch.csrs, err
	}
	var r BatchResult
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, ch.csrs, err
	}
	if r.Failed > 0 {
		for _, it := range r.Results {
			if it.Error != nil {
				err = fmt.Errorf("item %d: %s", it.Index, it.Error.Message)
				break
			}
		}
	}
	return r.Issued, r.Failed, err
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// timeEach runs op(i) for every i below n, concurrency at a time, until ctx
// ends, and measures the run: the operations that succeeded per second, the
// latency percentiles of every operation run, and the first error.
func timeEach(ctx context.Context, n, concurrency int, op func(i int) error) *LoadResult {
	var (
		good, bad atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, n)
		res       = &LoadResult{}
	)
	start := time.Now()
	forEach(n, concurrency, func(i int) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		err := op(i)
		latencies[i] = max(time.Since(t0), 1) // 0 marks an operation not run
		if err != nil {
			bad.Add(1)
			mu.Lock()
			if res.FirstError == nil {
				res.FirstError = err
			}
			mu.Unlock()
			return nil
		}
		good.Add(1)
		return nil
	})
	res.Elapsed = time.Since(start)
	res.Issued, res.Failed = int(good.Load()), int(bad.Load())
	res.PerSecond = float64(res.Issued) / res.Elapsed.Seconds()
	latencies = slices.DeleteFunc(latencies, func(d time.Duration) bool { return d == 0 })
	slices.Sort(latencies)
	res.P50, res.P95, res.P99 = percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99)
	return res
}
