package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"time"
)

// HandshakeCeiling measures the full mutual-TLS handshakes per second this
// machine makes between a client and a server of its own, in one process
// over loopback, with the devices' certificates and key exchanges: the
// ceiling of a device endpoint that does nothing but TLS. The server has a
// P-256 certificate, asks for and verifies the client's certificate chain
// (to its issuer, as the gateway does), and closes each connection after
// the handshake; there is no MQTT and no database. It runs n handshakes,
// concurrency at a time, before and after which nothing is timed.
func HandshakeCeiling(ctx context.Context, targets []ConnectTarget, n, concurrency int, kex []tls.CurveID) (*LoadResult, error) {
	if len(targets) == 0 {
		return nil, errors.New("no devices to measure the ceiling with")
	}
	issuers := x509.NewCertPool()
	seen := map[string]bool{}
	for _, t := range targets {
		if len(t.Issuer) == 0 {
			return nil, errors.New("a device's certificate comes without its issuer")
		}
		if k := string(t.Issuer); !seen[k] {
			seen[k] = true
			c, err := x509.ParseCertificate(t.Issuer)
			if err != nil {
				return nil, err
			}
			issuers.AddCert(c)
		}
	}
	serverCert, roots, err := ceilingServerCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	serverConf := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: issuers, MinVersion: tls.VersionTLS12}
	var wg sync.WaitGroup
	defer func() {
		ln.Close()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				tc := tls.Server(conn, serverConf)
				if tc.Handshake() == nil {
					tc.Write([]byte{1}) // the client reads it: the handshake is done on both ends
				}
			}()
		}
	}()
	confs := make([]*tls.Config, len(targets))
	for i, t := range targets {
		confs[i] = &tls.Config{Certificates: []tls.Certificate{t.Certificate}, RootCAs: roots, ServerName: "ceiling.invalid",
			MinVersion: tls.VersionTLS12, CurvePreferences: kex}
	}
	return timeEach(ctx, n, concurrency, func(i int) error {
		return ceilingHandshake(ln.Addr().String(), confs[i%len(confs)])
	}), nil
}

func ceilingHandshake(addr string, conf *tls.Config) error {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tc := tls.Client(conn, conf)
	if err := tc.Handshake(); err != nil {
		return err
	}
	_, err = io.ReadFull(tc, make([]byte, 1))
	return err
}

// ceilingServerCertificate makes a self-signed P-256 server certificate for
// the ceiling's server, and the pool its clients trust it by.
func ceilingServerCertificate() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1),
		Subject: pkix.Name{CommonName: "ceiling"}, DNSNames: []string{"ceiling.invalid"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &x509.Certificate{SerialNumber: big.NewInt(1),
		Subject: pkix.Name{CommonName: "ceiling"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots, nil
}
