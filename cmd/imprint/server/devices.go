package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/gateway"
	"github.com/imprint-iot/imprint/provisioning"
)

// Devices configures the device gateway's listeners: MQTT and the HTTPS
// device API, mutual TLS, with the server certificate given here or else
// issued by the CA for Hostnames and renewed before it expires.
type Devices struct {
	MQTTAddress   string // such as "127.0.0.1:8883"; "" for no MQTT listener
	DeviceAddress string // such as "127.0.0.1:8443"; "" for no HTTPS device API
	// Hostnames are the names and addresses the issued certificate is for.
	Hostnames []string
	// Certificate, when it has a leaf, is the listeners' own certificate
	// (and chain, and key), used as given and never renewed.
	Certificate tls.Certificate
}

// renewAfter is the share of an issued listener certificate's life after
// which it is renewed.
const renewAfter = 2.0 / 3

// gatewayStanding forwards the engine's announcements of changed standing
// and of JITR registrations to the MQTT server, which is built after the
// engine, and relays the registrations to the other replicas.
type gatewayStanding struct {
	mqtt atomic.Pointer[gateway.MQTT]
	// relay, when set, sends a registration to the other replicas; it
	// must not block.
	relay func(ev provisioning.JITREvent)
}

func (g *gatewayStanding) CertificateRegistered(ev provisioning.JITREvent) {
	if m := g.mqtt.Load(); m != nil {
		m.CertificateRegistered(ev)
	}
	if g.relay != nil {
		g.relay(ev)
	}
}

// relayedRegistration reads a notification of imprint.ChannelRegistrations:
// the event, and whether it came from another replica than self.
func relayedRegistration(self, payload string) (provisioning.JITREvent, bool) {
	var ev provisioning.JITREvent
	from, body, ok := strings.Cut(payload, " ")
	if !ok || from == self || json.Unmarshal([]byte(body), &ev) != nil || ev.CertificateID == "" || ev.CACertificateID == "" {
		return ev, false
	}
	return ev, true
}

func (g *gatewayStanding) Invalidate(caID, serial string) {
	if m := g.mqtt.Load(); m != nil {
		m.Invalidate(caID, serial)
	}
}

// devices are the running device listeners.
type devices struct {
	mqtt     *gateway.MQTT
	api      *gateway.DeviceAPI
	mu       sync.Mutex
	chainPEM []byte // what devices trust for the listeners: the chain up to the root
}

// startDevices opens the device listeners and serves them until Close.
func (s *Server) startDevices(ctx context.Context, cfg *Devices, engine *provisioning.Engine, standing *gatewayStanding) error {
	d := &devices{}
	cert, chain, issued := cfg.Certificate, []byte(nil), false
	if len(cert.Certificate) == 0 {
		var err error
		if cert, chain, err = s.CA.IssueServerCertificate(ctx, cfg.Hostnames); err != nil {
			return fmt.Errorf("issue the device listeners' certificate: %w", err)
		}
		issued = true
	} else {
		for _, der := range cert.Certificate {
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
	}
	d.chainPEM = chain
	lc := gateway.ListenerConfig{ServerCertificate: cert, Trust: s.CA, Log: s.log}
	if cfg.MQTTAddress != "" {
		lc.Address = cfg.MQTTAddress
		m, err := gateway.NewMQTT(gateway.MQTTConfig{Listener: lc, Engine: engine, Log: s.log})
		if err != nil {
			return fmt.Errorf("MQTT listener on %s: %w", cfg.MQTTAddress, err)
		}
		d.mqtt = m
		standing.mqtt.Store(m)
		s.start(func() { serveUntilClosed(s, "MQTT", m.Serve) })
	}
	if cfg.DeviceAddress != "" {
		lc.Address = cfg.DeviceAddress
		a, err := gateway.NewDeviceAPI(gateway.DeviceAPIConfig{Listener: lc, Engine: engine, Log: s.log})
		if err != nil {
			d.close()
			return fmt.Errorf("device API listener on %s: %w", cfg.DeviceAddress, err)
		}
		d.api = a
		s.start(func() { serveUntilClosed(s, "device API", a.Serve) })
	}
	s.devices = d
	if issued {
		s.start(func() { s.renewDeviceCertificate(cfg.Hostnames, cert) })
	}
	return nil
}

func serveUntilClosed(s *Server, what string, serve func() error) {
	if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) && s.bg.Err() == nil {
		s.log.Error("device listener stopped", "listener", what, "err", err)
	}
}

// renewDeviceCertificate issues the listeners a new certificate once two
// thirds of the current one's life have passed.
func (s *Server) renewDeviceCertificate(hosts []string, cert tls.Certificate) {
	for {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return
		}
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		wait := time.Until(leaf.NotBefore.Add(time.Duration(float64(life) * renewAfter)))
		select {
		case <-s.bg.Done():
			return
		case <-time.After(max(wait, time.Minute)):
		}
		next, chain, err := s.CA.IssueServerCertificate(s.bg, hosts)
		if err != nil {
			s.log.Error("renew the device listeners' certificate", "err", err)
			continue
		}
		cert = next
		d := s.devices
		d.mu.Lock()
		d.chainPEM = chain
		d.mu.Unlock()
		if d.mqtt != nil {
			d.mqtt.SetServerCertificate(next)
		}
		if d.api != nil {
			d.api.SetServerCertificate(next)
		}
		s.log.Info("renewed the device listeners' certificate", "notAfter", leaf.NotAfter)
	}
}

// MQTTAddr is the MQTT listener's address; nil without one.
func (s *Server) MQTTAddr() net.Addr {
	if s.devices == nil || s.devices.mqtt == nil {
		return nil
	}
	return s.devices.mqtt.Addr()
}

// DeviceAddr is the HTTPS device API's address; nil without one.
func (s *Server) DeviceAddr() net.Addr {
	if s.devices == nil || s.devices.api == nil {
		return nil
	}
	return s.devices.api.Addr()
}

// handleDeviceEndpointPEM: GET /ca/device-endpoint.pem, the chain devices
// must trust for the device listeners' certificate, up to its root.
func (s *Server) handleDeviceEndpointPEM(w http.ResponseWriter, r *http.Request) {
	if s.devices == nil {
		s.common.WriteError(w, r, imprint.Errorf(imprint.NotFound, "this server runs no device listener"))
		return
	}
	s.devices.mu.Lock()
	chain := s.devices.chainPEM
	s.devices.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(chain)
}

func (d *devices) close() {
	if d == nil {
		return
	}
	if d.mqtt != nil {
		d.mqtt.Close()
	}
	if d.api != nil {
		d.api.Close()
	}
}

// replicaID names this process among the replicas, for the notifications
// it relays.
func replicaID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
