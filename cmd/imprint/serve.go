package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	imprintserver "github.com/imprint-iot/imprint/cmd/imprint/server"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/postgres"
)

// env is what every server-side command opens: the logger, the database
// (starting the private PostgreSQL when no URL is configured), migrated.
type env struct {
	cfg   *config
	log   *slog.Logger
	db    *postgres.DB
	local *postgres.Local
}

func openEnv(ctx context.Context, cfg *config, stderr io.Writer, migrate bool) (*env, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return nil, err
	}
	if err := cfg.ensureDataDir(); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, log: log}
	url := cfg.DatabaseURL
	if url == "" {
		dir := filepath.Join(cfg.DataDir, "postgres")
		if e.local, err = postgres.StartLocal(ctx, dir, log); err != nil {
			return nil, err
		}
		if e.local.Shared() {
			log.Debug("using the private PostgreSQL another Imprint process runs", "dir", dir)
		} else {
			log.Info("no database URL configured; running a private PostgreSQL", "dir", dir)
		}
		url = e.local.URL()
	}
	if e.db, err = postgres.Open(ctx, url, log); err != nil {
		e.close()
		return nil, err
	}
	if migrate {
		if err := e.db.MigrateUp(ctx); err != nil {
			e.close()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) close() {
	if e.db != nil {
		e.db.Close()
	}
	if e.local != nil {
		if err := e.local.Stop(); err != nil {
			e.log.Error("stop private PostgreSQL", "err", err)
		}
	}
}

// authority opens the CA, creating it on a first start when create is set.
func (e *env) authority(ctx context.Context, create bool) (*ca.Authority, error) {
	pass, err := e.cfg.passphrase(e.log)
	if err != nil {
		return nil, err
	}
	ln := e.cfg.PublicURL
	if ln == "" {
		ln = "http://" + e.cfg.Listen
	}
	auth, err := ca.New(ctx, ca.Config{DataDir: e.cfg.DataDir, Passphrase: pass, PublicURL: ln, Log: e.log}, e.db)
	if err != nil {
		return nil, err
	}
	if create && auth.Root() == nil {
		root, iss, err := auth.Init(ctx, ca.InitRequest{})
		if err != nil {
			return nil, fmt.Errorf("create the CA: %w", err)
		}
		e.log.Info("created the CA", "root", root.ID, "issuing", iss.ID)
	}
	return auth, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]",
		"Migrates the database, creates the CA and the first admin token on a first start, and serves the API\n"+
			"until SIGINT or SIGTERM. With no database URL it runs a private PostgreSQL in the data directory.")
	cfg := serverFlags(fs, getenv)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.publicURL(ln.Addr())
	}
	if getenv("GOGC") == "" {
		// The live heap is small and the allocation rate high: trading some
		// memory for less GC buys about a fifth more certificates per second.
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		// …but collect harder before the heap nears this, so that building a
		// CRL of a million entries stays well inside half a gigabyte.
		debug.SetMemoryLimit(320 << 20)
	}
	e, err := openEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer e.close()
	auth, err := e.authority(ctx, true)
	if err != nil {
		return err
	}
	token, err := e.firstAdminToken(ctx)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	key, err := e.secretKey()
	if err != nil {
		return err
	}
	if len(cfg.outboundAllow) > 0 {
		e.log.Info("outbound requests may reach these internal addresses", "allow", cfg.outboundAllow)
	}
	devices, err := cfg.devices()
	if err != nil {
		return err
	}
	app, err := imprintserver.New(ctx, imprintserver.Config{Log: e.log, DB: e.db, CA: auth, SecretKey: key, Registry: reg,
		MetricsElsewhere: cfg.MetricsListen != "",
		CRL:              ca.CRLOptions{Validity: cfg.CRLValidity, RebuildAfter: cfg.CRLRebuild},
		OCSP:             ca.OCSPOptions{Validity: cfg.OCSPValidity}, OCSPMaxAge: cfg.OCSPMaxAge,
		RenewalGrace: cfg.RenewalGrace, PolicyLimits: policy.Limits{MaxCharacters: cfg.MaxPolicyChars},
		MaxTemplateVersions: cfg.MaxVersions, WebhookAllowHTTP: cfg.WebhookAllowHTTP,
		OutboundAllow: cfg.outboundAllow, TrustedProxies: cfg.trustedProxies, Devices: devices})
	if err != nil {
		return err
	}
	defer app.Close()
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.MetricsListen, err)
		}
		go serveMetrics(ctx, mln, reg, e.log)
	}
	handler := app.Handler
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second, // the event stream lifts it for itself
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		srv.TLSConfig = serverTLSConfig(cert)
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if cfg.DebugListen != "" {
		go serveDebug(ctx, cfg.DebugListen, e.log)
	}
	printReady(stdout, cfg, app, token)
	e.log.Info("serving", "api", cfg.PublicURL, "listen", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serverTLSConfig is the API listener's TLS: 1.2 or later, and in TLS 1.2
// only ECDHE key exchange with AEAD ciphers (no CBC, no SHA-1 MACs, no RSA
// key transport). TLS 1.3's suites are all AEAD and not configurable.
func serverTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// adminTokenPath is where the first admin token is written.
func (c *config) adminTokenPath() string {
	if c.AdminTokenFile != "" {
		return c.AdminTokenFile
	}
	return filepath.Join(c.DataDir, "admin-token")
}

func printReady(w io.Writer, cfg *config, app *imprintserver.Server, token string) {
	fmt.Fprintf(w, "Imprint is running.\n  API:        %s/v1\n  Health:     %s/readyz\n", cfg.PublicURL, cfg.PublicURL)
	if a := app.MQTTAddr(); a != nil {
		fmt.Fprintf(w, "  MQTT:       mqtts://%s (client certificates required)\n", a)
	}
	if a := app.DeviceAddr(); a != nil {
		fmt.Fprintf(w, "  Devices:    https://%s/device/v1 (client certificates required)\n", a)
	}
	if app.MQTTAddr() != nil || app.DeviceAddr() != nil {
		fmt.Fprintf(w, "  Devices trust %s/ca/device-endpoint.pem for the device listeners\n", cfg.PublicURL)
	}
	switch {
	case token != "" && cfg.AdminTokenFile == "":
		fmt.Fprintf(w, "  Admin token (shown once, also saved to %s):\n    %s\n", cfg.adminTokenPath(), token)
	case token != "":
		// IMPRINT_ADMIN_TOKEN_FILE: the output may go to a log; the token does not.
		fmt.Fprintf(w, "  Admin token: written to %s\n", cfg.adminTokenPath())
	default:
		fmt.Fprintf(w, "  Admin token: the first one is in %s\n", cfg.adminTokenPath())
	}
}

// firstAdminToken creates an admin token when there is none, writes it to a
// 0600 file (IMPRINT_ADMIN_TOKEN_FILE, else admin-token in the data
// directory), and returns it; "" when tokens exist.
func (e *env) firstAdminToken(ctx context.Context) (string, error) {
	n, err := e.db.CountTokens(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	t, secret, err := imprint.NewToken("first-admin", imprint.RoleAdmin)
	if err != nil {
		return "", err
	}
	path := e.cfg.adminTokenPath()
	if err := writePrivateFile(path, []byte(secret+"\n")); err != nil {
		return "", err
	}
	if err := e.db.CreateToken(ctx, t, imprint.SystemActor); err != nil {
		return "", err
	}
	return secret, nil
}

// writePrivateFile writes b to path with mode 0600, a file already there
// included.
func writePrivateFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// serveDebug serves Go's profiles on their own listener, never on the API's.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("serving profiles", "listen", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("debug listener", "err", err)
	}
}

// serveMetrics serves the Prometheus registry at /metrics on ln, the listener
// IMPRINT_METRICS_LISTEN names, until ctx ends.
func serveMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("serving metrics", "listen", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener", "err", err)
	}
}

// secretKey derives the key that seals webhook and hook secrets from the CA
// passphrase.
func (e *env) secretKey() ([]byte, error) {
	pass, err := e.cfg.passphrase(e.log)
	if err != nil {
		return nil, err
	}
	return hkdf.Key(sha256.New, pass, nil, "imprint webhook secrets", 32)
}
