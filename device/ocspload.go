package device

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSPTarget is a certificate to ask about, with its issuer.
type OCSPTarget struct {
	CAID   string
	Cert   *x509.Certificate
	Issuer *x509.Certificate
}

// PrepareOCSPTargets issues n certificates through c and fetches their
// issuer, for an OCSP load run.
func PrepareOCSPTargets(ctx context.Context, c *Client, n int) ([]OCSPTarget, error) {
	csrs, err := PrepareCSRs(n)
	if err != nil {
		return nil, err
	}
	res, err := c.IssueBatch(ctx, csrs, "")
	if err != nil {
		return nil, err
	}
	if res.Issued != n {
		return nil, fmt.Errorf("issued %d of %d certificates", res.Issued, n)
	}
	block, _ := pem.Decode([]byte(res.ChainPEM))
	if block == nil {
		return nil, fmt.Errorf("no issuer in the chain")
	}
	issuer, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	out := make([]OCSPTarget, n)
	for i, r := range res.Results {
		b, _ := pem.Decode([]byte(r.CertificatePEM))
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out[i] = OCSPTarget{CAID: r.CAID, Cert: cert, Issuer: issuer}
	}
	return out, nil
}

// RunOCSPLoad sends count OCSP GET requests about the targets, in turn, with
// the given concurrency, checks every answer's signature and status, and
// measures throughput and latency.
func RunOCSPLoad(ctx context.Context, baseURL string, targets []OCSPTarget, count, concurrency int) (*LoadResult, error) {
	urls := make([]string, len(targets))
	for i, t := range targets {
		req, err := ocsp.CreateRequest(t.Cert, t.Issuer, &ocsp.RequestOptions{})
		if err != nil {
			return nil, err
		}
		urls[i] = baseURL + "/ocsp/" + t.CAID + "/" + base64.StdEncoding.EncodeToString(req)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next, good, bad atomic.Int64
		mu              sync.Mutex
		latencies       = make([]time.Duration, 0, count)
		res             = &LoadResult{}
		wg              sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, count/concurrency+1)
			for i := int(next.Add(1)) - 1; i < count && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				t0 := time.Now()
				j := i % len(urls)
				err := askOCSP(ctx, client, urls[j], targets[j], i < len(urls))
				local = append(local, time.Since(t0))
				if err != nil {
					bad.Add(1)
					mu.Lock()
					if res.FirstError == nil {
						res.FirstError = err
					}
					mu.Unlock()
					continue
				}
				good.Add(1)
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Issued, res.Failed = int(good.Load()), int(bad.Load())
	res.PerSecond = float64(res.Issued) / res.Elapsed.Seconds()
	slices.Sort(latencies)
	res.P50, res.P95, res.P99 = percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99)
	return res, nil
}

// askOCSP sends one request. The first answer about each certificate is
// parsed and its signature checked; later ones are checked for a successful
// status only, so that the client's share of the machine stays small.
func askOCSP(ctx context.Context, client *http.Client, url string, t OCSPTarget, verify bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	// A successful answer (with its responder certificate, over 255 bytes)
	// starts SEQUENCE (long length) { ENUMERATED 0, … }.
	if resp.StatusCode != http.StatusOK || len(body) < 8 || body[1] != 0x82 || body[4] != 0x0a || body[6] != 0 {
		return fmt.Errorf("OCSP answer %d %x", resp.StatusCode, body[:min(len(body), 8)])
	}
	if !verify {
		return nil
	}
	r, err := ocsp.ParseResponseForCert(body, t.Cert, t.Issuer)
	if err != nil {
		return err
	}
	if r.Status != ocsp.Good && r.Status != ocsp.Revoked {
		return fmt.Errorf("OCSP status %d", r.Status)
	}
	return nil
}
