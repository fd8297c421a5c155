// Package device is the device and factory side of Imprint: making keys and
// CSRs, enrolling through the factory API, and driving load. The imprint
// command, the tests and the load generator use it.
package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client calls Imprint's factory API with a bearer token.
type Client struct {
	BaseURL string // such as "https://imprint.example.com"
	Token   string
	HTTP    *http.Client
}

// NewClient returns a client for the API at baseURL. tlsConfig may be nil
// for the system's roots.
func NewClient(baseURL, token string, tlsConfig *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = 256
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		Token:   token,
		HTTP:    &http.Client{Transport: tr, Timeout: 2 * time.Minute},
	}
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Certificate is an issued certificate as the API returns it.
type Certificate struct {
	CertificateID  string    `json:"certificateId"`
	CertificatePEM string    `json:"certificatePem"`
	ChainPEM       string    `json:"chainPem"`
	Serial         string    `json:"serial"`
	NotAfter       time.Time `json:"notAfter"`
	CAID           string    `json:"caId"`
	Status         string    `json:"status"`
	PrivateKeyPEM  string    `json:"privateKeyPem"`
}

// BatchResult is the answer to a batch request.
type BatchResult struct {
	Issued   int    `json:"issued"`
	Failed   int    `json:"failed"`
	ChainPEM string `json:"chainPem"`
	Results  []struct {
		Index int `json:"index"`
		Certificate
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"results"`
}

// Issue asks for a certificate for csrPEM from the CA caID ("" for the
// default CA).
func (c *Client) Issue(ctx context.Context, csrPEM []byte, caID, idempotencyKey string) (*Certificate, error) {
	var out Certificate
	err := c.post(ctx, "/v1/certificates", map[string]any{"csr": string(csrPEM), "caId": caID}, idempotencyKey, &out)
	return &out, err
}

// IssueBatch asks for a certificate for each CSR, in one request.
func (c *Client) IssueBatch(ctx context.Context, csrs [][]byte, caID string) (*BatchResult, error) {
	list := make([]string, len(csrs))
	for i, b := range csrs {
		list[i] = string(b)
	}
	var out BatchResult
	err := c.post(ctx, "/v1/certificates/batch", map[string]any{"csrs": list, "caId": caID}, "", &out)
	return &out, err
}

func (c *Client) post(ctx context.Context, path string, in any, idempotencyKey string, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	data, err := c.postRaw(ctx, path, body, idempotencyKey)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// postRaw sends a JSON body and returns the body of a successful answer.
func (c *Client) postRaw(ctx context.Context, path string, body []byte, idempotencyKey string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(data, &e)
		return nil, &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	return data, nil
}

// NewCSR returns a PEM certificate request for commonName signed by key.
func NewCSR(key crypto.Signer, commonName string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: commonName},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// Enrolled is a device identity: its key and its certificate.
type Enrolled struct {
	KeyPEM      []byte
	Certificate *Certificate
}

// Enroll makes a key of the given kind ("EC-P256" if empty), a CSR for
// commonName, and has Imprint sign it.
func Enroll(ctx context.Context, c *Client, commonName, keyType, caID string) (*Enrolled, error) {
	key, err := GenerateKey(keyType)
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key, commonName)
	if err != nil {
		return nil, err
	}
	cert, err := c.Issue(ctx, csr, caID, "")
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Enrolled{KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), Certificate: cert}, nil
}

// WriteFiles writes device.key (0600), device.crt and chain.pem into dir.
func (e *Enrolled) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"device.key", e.KeyPEM, 0o600},
		{"device.crt", []byte(e.Certificate.CertificatePEM), 0o644},
		{"chain.pem", []byte(e.Certificate.ChainPEM), 0o644},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Chmod(path, f.mode); err != nil {
			return err
		}
	}
	return nil
}
