package device

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectTarget is one device of a connect load run: its certificate and
// key, and its MQTT client ID.
type ConnectTarget struct {
	Certificate tls.Certificate
	ClientID    string
	Issuer      []byte // the DER of the certificate's direct issuer
}

// benchConnectPolicy lets a device connect with any client ID.
const benchConnectPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`

// call sends a JSON request to the API (in may be nil) and decodes the
// answer into out (which may be nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(data, &e)
		return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// forEach runs fn(i) for i in [0, n) on workers goroutines and returns
// the first error.
func forEach(n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
	)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && !failed.Load(); i = int(next.Add(1)) - 1 {
				if err := fn(i); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// PrepareJITPTargets makes a customer CA, registers it through the API
// (admin token) with proof of possession, auto-registration on and a JITP
// template that creates a thing named by the certificate's common name
// and attaches a connect policy (created here) to the certificate, and signs n device
// certificates with it that Imprint has never seen. It returns the devices
// and the registered CA's ID.
func PrepareJITPTargets(ctx context.Context, c *Client, n int) ([]ConnectTarget, string, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var code struct {
		RegistrationCode string `json:"registrationCode"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/registration-code", nil, &code); err != nil {
		return nil, "", fmt.Errorf("registration code: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "bench connect CA " + run},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		return nil, "", err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	verKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	verDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject: pkix.Name{CommonName: code.RegistrationCode}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)},
		caCert, verKey.Public(), caKey)
	if err != nil {
		return nil, "", err
	}
	policyName, templateName := "bench-connect-"+run, "bench-connect-"+run
	body, _ := json.Marshal(map[string]any{
		"Parameters": map[string]any{
			"AWS::IoT::Certificate::CommonName": map[string]string{"Type": "String"},
			"AWS::IoT::Certificate::Id":         map[string]string{"Type": "String"},
		},
		"Resources": map[string]any{
			"thing": map[string]any{"Type": "AWS::IoT::Thing",
				"Properties": map[string]any{"ThingName": map[string]string{"Ref": "AWS::IoT::Certificate::CommonName"}}},
			"certificate": map[string]any{"Type": "AWS::IoT::Certificate",
				"Properties": map[string]any{"CertificateId": map[string]string{"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
			"policy": map[string]any{"Type": "AWS::IoT::Policy",
				"Properties": map[string]any{"PolicyName": policyName}},
		},
	})
	if err := c.call(ctx, http.MethodPost, "/v1/policies", map[string]any{"policyName": policyName,
		"policyDocument": benchConnectPolicy}, nil); err != nil {
		return nil, "", fmt.Errorf("create the connect policy: %w", err)
	}
	if err := c.call(ctx, http.MethodPost, "/v1/provisioning-templates",
		map[string]any{"name": templateName, "type": "JITP", "body": string(body), "enabled": true}, nil); err != nil {
		return nil, "", fmt.Errorf("create the JITP template: %w", err)
	}
	var registered struct {
		CAID string `json:"caId"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/cas:register", map[string]any{
		"caCertificatePem":           string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		"verificationCertificatePem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: verDER})),
		"name":                       "bench-connect-" + run, "setAsActive": true, "autoRegistration": true,
		"provisioningTemplate": templateName}, &registered); err != nil {
		return nil, "", fmt.Errorf("register the CA: %w", err)
	}
	targets := make([]ConnectTarget, n)
	err = forEach(n, runtime.GOMAXPROCS(0), func(i int) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		cn := fmt.Sprintf("bench-%s-%d", run, i)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano() + 2 + int64(i)),
			Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			caCert, key.Public(), caKey)
		if err != nil {
			return err
		}
		targets[i] = ConnectTarget{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ClientID: cn, Issuer: caDER}
		return nil
	})
	return targets, registered.CAID, err
}

// PrepareReconnectTargets has n certificates issued through the factory
// API for new P-256 keys (from the CA caID, "" for the default), attaches
// a connect policy to each and each to a thing named as its client ID
// (admin token), and connects each once to the MQTT listener at addr, so
// that what is measured next is reconnection.
func PrepareReconnectTargets(ctx context.Context, c *Client, n int, caID, addr string, roots *x509.CertPool) ([]ConnectTarget, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	keys := make([]*ecdsa.PrivateKey, n)
	csrs := make([][]byte, n)
	if err := forEach(n, runtime.GOMAXPROCS(0), func(i int) error {
		var err error
		if keys[i], err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
			csrs[i], err = NewCSR(keys[i], fmt.Sprintf("bench-%s-%d", run, i))
		}
		return err
	}); err != nil {
		return nil, err
	}
	targets := make([]ConnectTarget, n)
	ids := make([]string, n)
	const batch = 1000
	for from := 0; from < n; from += batch {
		to := min(from+batch, n)
		res, err := c.IssueBatch(ctx, csrs[from:to], caID)
		if err != nil {
			return nil, fmt.Errorf("issue: %w", err)
		}
		issuer, _ := pem.Decode([]byte(res.ChainPEM))
		if issuer == nil {
			return nil, errors.New("issue: an answer without the issuer's certificate")
		}
		for _, r := range res.Results {
			if r.Error != nil {
				return nil, fmt.Errorf("issue certificate %d: %s", from+r.Index, r.Error.Message)
			}
			b, _ := pem.Decode([]byte(r.CertificatePEM))
			if b == nil {
				return nil, errors.New("issue: an answer without a certificate")
			}
			i := from + r.Index
			targets[i] = ConnectTarget{Certificate: tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: keys[i]},
				ClientID: fmt.Sprintf("bench-%s-%d", run, i), Issuer: issuer.Bytes}
			ids[i] = r.CertificateID
		}
	}
	policyName := "bench-connect-" + run
	if err := c.call(ctx, http.MethodPost, "/v1/policies", map[string]any{"policyName": policyName,
		"policyDocument": benchConnectPolicy}, nil); err != nil {
		return nil, fmt.Errorf("create the connect policy: %w", err)
	}
	if err := forEach(n, 8, func(i int) error {
		if err := c.call(ctx, http.MethodPut, "/v1/policies/"+url.PathEscape(policyName)+"/targets/certificate/"+ids[i], nil, nil); err != nil {
			return fmt.Errorf("attach the connect policy: %w", err)
		}
		thing := targets[i].ClientID
		if err := c.call(ctx, http.MethodPost, "/v1/things", map[string]string{"thingName": thing}, nil); err != nil {
			return fmt.Errorf("create thing %s: %w", thing, err)
		}
		if err := c.call(ctx, http.MethodPut, "/v1/things/"+thing+"/principals/"+ids[i], nil, nil); err != nil {
			return fmt.Errorf("attach to thing %s: %w", thing, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if res := RunConnectLoad(ctx, addr, roots, targets, 8, nil); res.Failed > 0 {
		return nil, fmt.Errorf("first connections: %d failed: %v", res.Failed, res.FirstError)
	}
	return targets, nil
}

// KeyExchanges returns the TLS key exchanges a load generator offers, by
// name: "x25519" or "p256" (what device TLS stacks offer), or "hybrid"
// (Go's default, X25519MLKEM768 first: nil).
func KeyExchanges(name string) ([]tls.CurveID, error) {
	switch name {
	case "x25519":
		return []tls.CurveID{tls.X25519}, nil
	case "p256":
		return []tls.CurveID{tls.CurveP256}, nil
	case "hybrid":
		return nil, nil
	}
	return nil, fmt.Errorf("key exchange %q: want x25519, p256 or hybrid", name)
}

// RunConnectLoad connects every target once to the MQTT listener at addr
// (host:port), concurrency at a time: each a TCP connection, a full TLS
// handshake with the device's certificate offering the key exchanges kex
// (nil: Go's default), CONNECT, CONNACK and DISCONNECT. Latency is per
// connection; LoadResult.Issued counts the connections accepted.
func RunConnectLoad(ctx context.Context, addr string, roots *x509.CertPool, targets []ConnectTarget, concurrency int, kex []tls.CurveID) *LoadResult {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	confs := make([]*tls.Config, len(targets))
	for i, t := range targets {
		confs[i] = &tls.Config{Certificates: []tls.Certificate{t.Certificate}, RootCAs: roots, ServerName: host,
			NextProtos: []string{"mqtt"}, MinVersion: tls.VersionTLS12, CurvePreferences: kex}
	}
	return timeEach(ctx, len(targets), concurrency, func(i int) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := ConnectMQTT(cctx, addr, confs[i], targets[i].ClientID, MQTT5)
		if err == nil && !r.Accepted {
			err = fmt.Errorf("CONNACK %#x: %s", r.ReasonCode, r.Reason)
		}
		return err
	})
}

// connsPerSource is how many connections HoldConnections opens from one
// source address: under the gateway's cap of 64 per address.
const connsPerSource = 60

// Held is a set of MQTT sessions kept open by HoldConnections.
type Held struct {
	conns []*tls.Conn
}

// Len returns how many sessions are held.
func (h *Held) Len() int { return len(h.conns) }

// Close ends every held session with DISCONNECT.
func (h *Held) Close() {
	for _, c := range h.conns {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte{0xe0, 0x00})
		c.Close()
	}
	h.conns = nil
}

// HoldConnections connects every target to the MQTT listener at addr,
// concurrency at a time, and keeps the sessions open (idle, keepalive
// 60 s: the server closes them after 90 s without a packet). When addr is
// a loopback address, the connections come from 127.0.0.2 upwards, 60 an
// address, as the gateway caps connections per source address. It returns
// the sessions held and the first error of those that failed.
func HoldConnections(ctx context.Context, addr string, roots *x509.CertPool, targets []ConnectTarget, concurrency int) (*Held, int, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, err
	}
	ip := net.ParseIP(host).To4()
	if len(targets) > connsPerSource && (ip == nil || !ip.IsLoopback()) {
		return nil, 0, fmt.Errorf("more than %d sessions need an IPv4 loopback address (to spread over source addresses), not %s", connsPerSource, host)
	}
	if len(targets)/connsPerSource > 250 {
		return nil, 0, fmt.Errorf("at most %d sessions", 250*connsPerSource)
	}
	var (
		mu       sync.Mutex
		held     = &Held{}
		failed   int
		firstErr error
	)
	forEach(len(targets), concurrency, func(i int) error {
		d := &net.Dialer{}
		if ip != nil && ip.IsLoopback() {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/connsPerSource))}
		}
		conf := &tls.Config{Certificates: []tls.Certificate{targets[i].Certificate}, RootCAs: roots, ServerName: host,
			NextProtos: []string{"mqtt"}, MinVersion: tls.VersionTLS12}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		conn, res, err := openMQTT(cctx, d, addr, conf, targets[i].ClientID, MQTT5)
		cancel()
		if err == nil && !res.Accepted {
			conn.Close()
			err = fmt.Errorf("CONNACK %#x: %s", res.ReasonCode, res.Reason)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		held.conns = append(held.conns, conn)
		return nil
	})
	return held, failed, firstErr
}
