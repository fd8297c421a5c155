package gateway_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/imprint-iot/imprint"
)

// BenchmarkMQTTReconnect measures a known device's connection: a full TLS
// handshake (no resumption), an MQTT 5 CONNECT decided by the engine
// (certificate, thing and policies read from PostgreSQL) and its CONNACK,
// with clients on the same machine.
func BenchmarkMQTTReconnect(b *testing.B) {
	f := newFixture(b)
	m := f.mqtt()
	d := f.device("bench-1", imprint.CertificateActive)
	f.policy(d.cert.ID, "connect-any", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
	cert, err := tls.LoadX509KeyPair(d.certFile, d.keyF)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(b, f.caFile))
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1",
		ClientSessionCache: nil, NextProtos: []string{"mqtt"}}
	var n atomic.Int64
	b.SetParallelism(8) // 16 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := "bench-" + strconv.FormatInt(n.Add(1), 10)
		for pb.Next() {
			conn, err := tls.Dial("tcp", m.Addr().String(), cfg)
			if err != nil {
				b.Error(err)
				return
			}
			if code, reason := f.connect(conn, bufio.NewReader(conn), 5, 30, id); code != 0 {
				b.Errorf("CONNACK %#x %s", code, reason)
			}
			conn.Close()
		}
	})
}
