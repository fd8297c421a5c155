package device

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
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
	return timeEach(ctx, count, concurrency, func(i int) error {
		j := i % len(urls)
		return askOCSP(ctx, client, urls[j], targets[j], i < len(urls))
	}), nil
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
