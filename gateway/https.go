package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// DeviceAPIConfig configures the HTTPS device API. Listener and Engine are
// required.
type DeviceAPIConfig struct {
	Listener ListenerConfig
	Engine   Connector
	// IdleTimeout closes a kept-alive connection with no request (2 min
	// if 0).
	IdleTimeout time.Duration
	Log         *slog.Logger
}

// DeviceAPI is the HTTPS device API, /device/v1, behind the front door.
// Every request is decided by the engine as a connection of the device
// whose certificate the TLS connection verified.
type DeviceAPI struct {
	cfg      DeviceAPIConfig
	listener *Listener
	queue    *connQueue
	server   *http.Server
	wg       sync.WaitGroup
}

// NewDeviceAPI returns the device API listening on cfg.Listener.Address;
// Serve starts it.
func NewDeviceAPI(cfg DeviceAPIConfig) (*DeviceAPI, error) {
	if cfg.Engine == nil {
		return nil, errors.New("gateway: an engine is required")
	}
	cfg.Log = cfg.Listener.defaults(cfg.Log, "http/1.1")
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, 2*time.Minute)
	l, err := Listen(cfg.Listener)
	if err != nil {
		return nil, err
	}
	d := &DeviceAPI{cfg: cfg, listener: l, queue: &connQueue{l: l, ch: make(chan net.Conn), done: make(chan struct{})}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /device/v1/whoami", d.whoami)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, imprint.Errorf(imprint.NotFound, "no device API at %s %s", r.Method, r.URL.Path))
	})
	d.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: l.cfg.FirstPacketTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return d, nil
}

// Addr returns the address the API listens on.
func (d *DeviceAPI) Addr() net.Addr { return d.listener.Addr() }

// SetServerCertificate replaces the API's own certificate.
func (d *DeviceAPI) SetServerCertificate(cert tls.Certificate) { d.listener.SetServerCertificate(cert) }

// Serve starts accepting connections and returns.
func (d *DeviceAPI) Serve() error {
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.listener.serve(d.queue.push)
	}()
	go func() {
		defer d.wg.Done()
		if err := d.server.Serve(d.queue); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.cfg.Log.Error("device API stopped", "err", err)
		}
	}()
	return nil
}

// Close closes every connection and waits for their goroutines.
func (d *DeviceAPI) Close() error {
	err := d.server.Close()
	d.queue.Close()
	if lerr := d.listener.Close(); err == nil {
		err = lerr
	}
	d.wg.Wait()
	return err
}

type connKey struct{}

// whoami answers what Imprint knows of the calling device.
func (d *DeviceAPI) whoami(w http.ResponseWriter, r *http.Request) {
	c, ok := r.Context().Value(connKey{}).(*Conn)
	if !ok {
		writeProblem(w, imprint.Errorf(imprint.Unauthorized, "a client certificate is required"))
		return
	}
	conn, err := d.cfg.Engine.Connect(r.Context(), provisioning.ConnectRequest{Chain: c.Chain(),
		Protocol: provisioning.ProtocolHTTPS, SourceIP: c.SourceIP()})
	if err != nil {
		if k := imprint.ErrorKind(err); k == imprint.Internal || k == imprint.Unavailable || k == imprint.Aborted {
			d.cfg.Log.ErrorContext(r.Context(), "device request not decided", "err", err)
		}
		writeProblem(w, err)
		return
	}
	writeJSON(w, http.StatusOK, whoamiBody{CertificateID: conn.CertificateID, ThingName: conn.ThingName,
		Status: conn.Status, CAID: conn.CAID})
}

// whoamiBody is the answer of GET /device/v1/whoami.
type whoamiBody struct {
	CertificateID string                    `json:"certificateId"`
	ThingName     string                    `json:"thingName,omitempty"`
	Status        imprint.CertificateStatus `json:"status"`
	CAID          string                    `json:"caId"`
}

// writeProblem answers err with the REST API's problem body.
func writeProblem(w http.ResponseWriter, err error) {
	kind := imprint.ErrorKind(err)
	msg := imprint.ErrorMessage(err)
	if kind == imprint.Unavailable && msg == "internal error" {
		msg = "service unavailable"
	}
	if kind == imprint.Unavailable || kind == imprint.Aborted {
		w.Header().Set("Retry-After", "1")
	}
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, kind.HTTPStatus(), struct {
		Error detail `json:"error"`
	}{detail{Code: kind.String(), Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// connQueue is a net.Listener over the front door's verified connections,
// for net/http.
type connQueue struct {
	l    *Listener
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

// push hands c to Accept, or closes it if the queue is closed.
func (q *connQueue) push(c *Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.l.Addr() }
