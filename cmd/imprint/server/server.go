// Package server builds the whole Imprint server in one place: the
// store-backed background workers, the notification listener that feeds
// every one of them, the provisioning engine, and the HTTP handler composed
// of the REST API, the public PKI endpoints and the process's own routes.
// `imprint serve` and the tests build their servers with New alike; nothing
// outside cmd imports it.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/api"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/events"
	"github.com/imprint-iot/imprint/outbound"
	"github.com/imprint-iot/imprint/pki"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/provisioning"
	"github.com/imprint-iot/imprint/revocation"
	"github.com/imprint-iot/imprint/webhooks"
)

// Config is what a server is built from. Log, DB, CA and SecretKey are
// required; the zero value of the others is their default.
type Config struct {
	Log *slog.Logger
	DB  *postgres.DB
	// CA is the opened CA; the server reloads it when a CA changes on any
	// replica (imprint.ChannelCAs).
	CA *ca.Authority
	// SecretKey is the 32-byte key that seals webhook and pre-provisioning
	// hook secrets.
	SecretKey []byte
	// Registry receives the metrics; nil makes a new one (Server.Registry).
	Registry *prometheus.Registry
	// MetricsElsewhere leaves /metrics off the handler: the caller serves
	// the Registry on a listener of its own.
	MetricsElsewhere bool
	CRL              ca.CRLOptions
	OCSP             ca.OCSPOptions
	// OCSPMaxAge is the Cache-Control max-age of OCSP answers to GET.
	OCSPMaxAge time.Duration
	// RenewalGrace is how long a renewed certificate stays valid.
	RenewalGrace time.Duration
	// PolicyLimits bound policy documents, stored or in templates.
	PolicyLimits policy.Limits
	// MaxTemplateVersions is how many versions a template may have.
	MaxTemplateVersions int
	// WebhookAllowHTTP lets webhooks and pre-provisioning hooks use plain
	// http URLs.
	WebhookAllowHTTP bool
	// OutboundAllow are the internal addresses webhooks and hooks may reach
	// (IMPRINT_OUTBOUND_ALLOW), beyond public ones.
	OutboundAllow []netip.Prefix
	// TrustedProxies are the proxies whose forwarding headers are believed.
	TrustedProxies []netip.Prefix
	// Devices, if not nil, opens the device gateway's listeners.
	Devices *Devices
}

// Server is a built server whose background workers run until Close.
type Server struct {
	// Handler serves everything of the API listener: /v1, the PKI
	// endpoints, /healthz, /readyz, /openapi.yaml and (unless elsewhere)
	// /metrics.
	Handler  http.Handler
	Engine   *provisioning.Engine
	CA       *ca.Authority
	Tokens   *api.TokenCache
	Registry *prometheus.Registry

	log     *slog.Logger
	db      *postgres.DB
	bg      context.Context // ends at Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	devices *devices // nil without device listeners
	common  *api.Common
}

// New builds the server and starts its background workers (CRL publishing,
// bulk revocations, webhook deliveries, the event stream, renewal grace,
// idempotency-key pruning) and the notification listener that feeds them,
// the CA and the token cache. It returns once the listener listens, so that
// no change made after it on any replica goes unheard. The workers run until
// ctx ends or Close is called.
func New(ctx context.Context, cfg Config) (*Server, error) {
	secrets, err := webhooks.NewSecretBox(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	log, db, auth := cfg.Log, cfg.DB, cfg.CA
	crls := ca.NewCRLPublisher(auth, db, cfg.CRL, log)
	ocsp := ca.NewOCSPResponder(auth, db, cfg.OCSP, log)
	hub := events.NewHub(db, log)
	guard := outbound.New(cfg.OutboundAllow) // one guard and one client for every outbound request
	dispatcher := webhooks.NewDispatcher(db, secrets, guard.Client(outbound.ClientOptions{}), log)
	jobs := revocation.NewRunner(db, log)
	tokens := api.NewTokenCache(db, log)
	standing := &gatewayStanding{}
	self := replicaID()
	engine := provisioning.New(provisioning.Config{CA: auth, Store: db, Log: log,
		Standing: []provisioning.StandingListener{ocsp, standing}, RenewalGrace: cfg.RenewalGrace,
		Registered:   []provisioning.RegistrationListener{standing},
		PolicyLimits: cfg.PolicyLimits, MaxTemplateVersions: cfg.MaxTemplateVersions,
		Outbound: guard, Secrets: secrets, HookAllowHTTP: cfg.WebhookAllowHTTP, Transactor: transactor{db},
		CacheCertificates: true}) // the notifications below reach engine.Notify

	bg, cancel := context.WithCancel(ctx)
	s := &Server{Engine: engine, CA: auth, Tokens: tokens, Registry: reg, log: log, db: db, bg: bg, cancel: cancel}
	channels := []string{imprint.ChannelRevocations, imprint.ChannelCRLs, imprint.ChannelCAs, imprint.ChannelTokens,
		imprint.ChannelAuthorization, imprint.ChannelRegistrations}
	standing.relay = func(ev provisioning.JITREvent) {
		body, err := json.Marshal(ev)
		if err != nil {
			return
		}
		s.start(func() {
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			if err := db.Notify(ctx, imprint.ChannelRegistrations, self+" "+string(body)); err != nil && bg.Err() == nil {
				log.Warn("relay a JITR registration to the other replicas", "certificate", ev.CertificateID, "err", err)
			}
		})
	}
	listening := make(chan struct{})
	heard := map[string]bool{}
	s.start(func() {
		db.Listen(bg, func(channel, payload string) {
			switch channel {
			case imprint.ChannelRevocations:
				crls.Notify(channel, payload)
				ocsp.Notify(channel, payload)
				dispatcher.Notify(channel, payload)
				engine.Notify(channel, payload) // before the gateway decides its sessions again
				if m := standing.mqtt.Load(); m != nil {
					m.Notify(channel, payload) // the kill switch on this replica too
				}
			case imprint.ChannelCRLs:
				crls.Notify(channel, payload)
			case imprint.ChannelCAs:
				if err := auth.Reload(bg); err != nil && bg.Err() == nil {
					log.Error("reload CAs", "err", err)
				}
				engine.Notify(channel, payload)
				if m := standing.mqtt.Load(); m != nil && payload != "" {
					m.Notify(imprint.ChannelRevocations, payload+" *") // sessions of a CA made INACTIVE end
				}
			case imprint.ChannelTokens:
				tokens.Notify(channel, payload)
			case imprint.ChannelAuthorization:
				engine.Notify(channel, payload)
			case imprint.ChannelRegistrations:
				if ev, ok := relayedRegistration(self, payload); ok {
					if m := standing.mqtt.Load(); m != nil {
						m.CertificateRegistered(ev)
					}
				}
			}
			// After its first connection the listener calls with an empty
			// payload on each channel in turn.
			if payload == "" && len(heard) < len(channels) {
				if heard[channel] = true; len(heard) == len(channels) {
					close(listening)
				}
			}
		}, channels...)
	})
	s.start(func() { crls.Run(bg) })
	s.start(func() { hub.Run(bg) })
	s.start(func() { dispatcher.Run(bg) })
	s.start(func() { jobs.Run(bg) })
	s.start(func() { every(bg, 10*time.Second, s.revokeSuperseded) })
	s.start(func() { every(bg, time.Hour, s.pruneIdempotencyKeys) })

	common := api.NewCommon(log, reg)
	s.common = common
	r := common.Router(cfg.TrustedProxies)
	ops := r.With(api.Timeout)
	ops.Get("/healthz", handleHealthz)
	ops.Get("/readyz", s.handleReadyz)
	if !cfg.MetricsElsewhere {
		ops.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	ops.Get("/openapi.yaml", api.HandleOpenAPI)
	ops.Get("/ca/device-endpoint.pem", s.handleDeviceEndpointPEM)
	r.Group(pki.Routes(pki.Deps{Common: common, CA: auth, CRLs: crls, OCSP: ocsp, OCSPMaxAge: cfg.OCSPMaxAge}))
	r.Mount("/v1", api.NewHandler(api.Deps{Common: common, Engine: engine, CA: auth, Store: db,
		Jobs: jobs, Events: hub, Secrets: secrets, Tokens: tokens,
		WebhookAllowHTTP: cfg.WebhookAllowHTTP, Outbound: guard}))
	s.Handler = r

	select {
	case <-listening:
		if cfg.Devices != nil {
			if err := s.startDevices(ctx, cfg.Devices, engine, standing); err != nil {
				s.Close()
				return nil, err
			}
		}
		return s, nil
	case <-bg.Done():
		s.Close()
		return nil, errors.Join(errors.New("the notification listener did not start"), ctx.Err())
	}
}

// start runs f in a goroutine that Close waits for.
func (s *Server) start(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Close stops the device listeners and the background workers and waits
// for them to end.
func (s *Server) Close() {
	s.cancel()
	s.devices.close()
	s.wg.Wait()
}

// every calls f now and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revokeSuperseded revokes renewed certificates whose grace has passed.
func (s *Server) revokeSuperseded(ctx context.Context) {
	if n, err := s.db.RevokeSuperseded(ctx, time.Now(), 1000); err != nil && ctx.Err() == nil {
		s.log.Warn("revoke superseded certificates", "err", err)
	} else if n > 0 {
		s.log.Info("revoked superseded certificates", "count", n)
	}
}

// pruneIdempotencyKeys deletes day-old idempotency records.
func (s *Server) pruneIdempotencyKeys(ctx context.Context) {
	if n, err := s.db.PruneIdempotencyKeys(ctx, 24*time.Hour); err != nil && ctx.Err() == nil {
		s.log.Warn("prune idempotency keys", "err", err)
	} else if n > 0 {
		s.log.Info("pruned idempotency keys", "count", n)
	}
}

// handleHealthz: GET /healthz, 200 while the process serves.
func handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz: GET /readyz, 200 when the database answers and a CA key is
// loaded, 503 otherwise.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "ca": "ok"}
	status := http.StatusOK
	if err := s.db.Ping(ctx); err != nil {
		checks["database"], status = imprint.ErrorMessage(err), http.StatusServiceUnavailable
	}
	if err := s.CA.Ready(); err != nil {
		checks["ca"], status = imprint.ErrorMessage(err), http.StatusServiceUnavailable
	}
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// transactor runs the engine's first-connection transactions in the store:
// *postgres.Tx has every step the engine's ProvisioningTx names. It is a
// provisioning.NewDeviceWriter too: the store's group commit of new devices.
type transactor struct{ db *postgres.DB }

func (t transactor) InProvisioningTx(ctx context.Context, fn func(provisioning.ProvisioningTx) error) error {
	return t.db.InTx(ctx, func(tx *postgres.Tx) error { return fn(tx) })
}

func (t transactor) ProvisionNewDevice(ctx context.Context, d *imprint.NewDevice) (bool, error) {
	return t.db.ProvisionNewDevice(ctx, d)
}
