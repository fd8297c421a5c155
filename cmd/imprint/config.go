package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imprint-iot/imprint"
	imprintserver "github.com/imprint-iot/imprint/cmd/imprint/server"
)

// config is the server's configuration. Each field comes from a flag, else
// from its IMPRINT_* variable, else from its default (docs/configuration.md).
type config struct {
	Listen         string // IMPRINT_LISTEN
	PublicURL      string // IMPRINT_PUBLIC_URL
	DatabaseURL    string // IMPRINT_DATABASE_URL
	DataDir        string // IMPRINT_DATA_DIR
	Passphrase     string // IMPRINT_CA_PASSPHRASE
	PassphraseFile string // IMPRINT_CA_PASSPHRASE_FILE
	TLSCert        string // IMPRINT_TLS_CERT
	TLSKey         string // IMPRINT_TLS_KEY
	LogLevel       string // IMPRINT_LOG_LEVEL
	LogFormat      string // IMPRINT_LOG_FORMAT
	DebugListen    string // IMPRINT_DEBUG_LISTEN
	MetricsListen  string // IMPRINT_METRICS_LISTEN
	MQTTListen     string // IMPRINT_MQTT_LISTEN
	DeviceListen   string // IMPRINT_DEVICE_LISTEN
	DeviceHosts    string // IMPRINT_DEVICE_HOSTNAMES
	DeviceTLSCert  string // IMPRINT_DEVICE_TLS_CERT
	DeviceTLSKey   string // IMPRINT_DEVICE_TLS_KEY
	AdminTokenFile string // IMPRINT_ADMIN_TOKEN_FILE

	CRLValidity      time.Duration // IMPRINT_CRL_VALIDITY
	CRLRebuild       time.Duration // IMPRINT_CRL_REBUILD
	OCSPValidity     time.Duration // IMPRINT_OCSP_VALIDITY
	OCSPMaxAge       time.Duration // IMPRINT_OCSP_MAX_AGE
	RenewalGrace     time.Duration // IMPRINT_RENEWAL_GRACE
	WebhookAllowHTTP bool          // IMPRINT_WEBHOOK_ALLOW_HTTP
	OutboundAllow    string        // IMPRINT_OUTBOUND_ALLOW
	TrustedProxies   string        // IMPRINT_TRUSTED_PROXIES

	// outboundAllow and trustedProxies are the two lists above, parsed by
	// validate.
	outboundAllow, trustedProxies []netip.Prefix
	MaxVersions                   int // IMPRINT_TEMPLATE_MAX_VERSIONS
	MaxPolicyChars                int // IMPRINT_POLICY_MAX_CHARACTERS
}

// serverFlags registers the server's configuration on fs, with defaults from
// getenv.
func serverFlags(fs *flag.FlagSet, getenv func(string) string) *config {
	c := &config{}
	str := func(p *string, name, env, def, help string) {
		if v := getenv(env); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, help+" ("+env+")")
	}
	str(&c.Listen, "listen", "IMPRINT_LISTEN", "127.0.0.1:8080", "address of the API listener")
	str(&c.PublicURL, "public-url", "IMPRINT_PUBLIC_URL", "", "base URL devices and relying parties reach Imprint at; from --listen if empty")
	str(&c.DatabaseURL, "database-url", "IMPRINT_DATABASE_URL", "", "PostgreSQL URL; empty runs a private PostgreSQL in the data directory")
	str(&c.DataDir, "data-dir", "IMPRINT_DATA_DIR", "data", "directory for CA keys, the first admin token and the private PostgreSQL")
	str(&c.Passphrase, "ca-passphrase", "IMPRINT_CA_PASSPHRASE", "", "passphrase of the CA key files")
	str(&c.PassphraseFile, "ca-passphrase-file", "IMPRINT_CA_PASSPHRASE_FILE", "", "file holding the passphrase of the CA key files")
	str(&c.TLSCert, "tls-cert", "IMPRINT_TLS_CERT", "", "PEM certificate chain for HTTPS on the API listener")
	str(&c.TLSKey, "tls-key", "IMPRINT_TLS_KEY", "", "PEM private key for HTTPS on the API listener")
	str(&c.LogLevel, "log-level", "IMPRINT_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "IMPRINT_LOG_FORMAT", "text", "text or json")
	str(&c.DebugListen, "debug-listen", "IMPRINT_DEBUG_LISTEN", "", "address for Go's pprof profiles (off when empty; keep it on loopback)")
	str(&c.OutboundAllow, "outbound-allow", "IMPRINT_OUTBOUND_ALLOW", "", "comma-separated CIDR prefixes of internal addresses webhooks and hooks may reach")
	str(&c.TrustedProxies, "trusted-proxies", "IMPRINT_TRUSTED_PROXIES", "", "comma-separated CIDR prefixes of proxies whose X-Forwarded-For and X-Real-IP are believed (none when empty)")
	str(&c.MQTTListen, "mqtt-listen", "IMPRINT_MQTT_LISTEN", "127.0.0.1:8883", "address of the MQTT device listener (mutual TLS); \"off\" for none")
	str(&c.DeviceListen, "device-listen", "IMPRINT_DEVICE_LISTEN", "127.0.0.1:8443", "address of the HTTPS device API listener (mutual TLS); \"off\" for none")
	str(&c.DeviceHosts, "device-hostnames", "IMPRINT_DEVICE_HOSTNAMES", "localhost,127.0.0.1", "comma-separated names and addresses the device listeners' certificate is issued for")
	str(&c.DeviceTLSCert, "device-tls-cert", "IMPRINT_DEVICE_TLS_CERT", "", "PEM certificate chain of the device listeners; empty: issued by Imprint's CA and renewed")
	str(&c.DeviceTLSKey, "device-tls-key", "IMPRINT_DEVICE_TLS_KEY", "", "PEM private key of the device listeners' certificate")
	str(&c.MetricsListen, "metrics-listen", "IMPRINT_METRICS_LISTEN", "", "address of a listener of its own for /metrics, which then leaves the API listener; empty serves it on the API listener")
	str(&c.AdminTokenFile, "admin-token-file", "IMPRINT_ADMIN_TOKEN_FILE", "", "file the first admin token is written to (mode 0600) instead of the output; empty writes it to admin-token in the data directory and prints it")
	dur := func(p *time.Duration, name, env string, def time.Duration, help string) {
		if v, err := time.ParseDuration(getenv(env)); err == nil {
			def = v
		}
		fs.DurationVar(p, name, def, help+" ("+env+")")
	}
	dur(&c.CRLValidity, "crl-validity", "IMPRINT_CRL_VALIDITY", 24*time.Hour, "time from a CRL's thisUpdate to its nextUpdate")
	dur(&c.CRLRebuild, "crl-rebuild", "IMPRINT_CRL_REBUILD", 12*time.Hour, "age at which a CRL is rebuilt with no change")
	dur(&c.OCSPValidity, "ocsp-validity", "IMPRINT_OCSP_VALIDITY", time.Hour, "time from an OCSP response's thisUpdate to its nextUpdate")
	dur(&c.OCSPMaxAge, "ocsp-max-age", "IMPRINT_OCSP_MAX_AGE", time.Minute, "how long HTTP caches may keep OCSP answers to GET")
	dur(&c.RenewalGrace, "renewal-grace", "IMPRINT_RENEWAL_GRACE", 0, "how long a renewed certificate stays valid before it is revoked as superseded")
	maxVersions, err := strconv.Atoi(getenv("IMPRINT_TEMPLATE_MAX_VERSIONS"))
	if err != nil {
		maxVersions = imprint.DefaultMaxTemplateVersions
	}
	fs.IntVar(&c.MaxVersions, "template-max-versions", maxVersions, "versions a provisioning template may have (IMPRINT_TEMPLATE_MAX_VERSIONS)")
	maxPolicy, err := strconv.Atoi(getenv("IMPRINT_POLICY_MAX_CHARACTERS"))
	if err != nil {
		maxPolicy = imprint.DefaultMaxPolicyCharacters
	}
	fs.IntVar(&c.MaxPolicyChars, "policy-max-characters", maxPolicy, "non-whitespace characters a policy document may have (IMPRINT_POLICY_MAX_CHARACTERS)")
	allowHTTP := getenv("IMPRINT_WEBHOOK_ALLOW_HTTP") == "true"
	fs.BoolVar(&c.WebhookAllowHTTP, "webhook-allow-http", allowHTTP, "let webhooks use plain http URLs (IMPRINT_WEBHOOK_ALLOW_HTTP)")
	return c
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

func (c *config) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("IMPRINT_TLS_CERT and IMPRINT_TLS_KEY go together")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if (c.DeviceTLSCert == "") != (c.DeviceTLSKey == "") {
		return errors.New("IMPRINT_DEVICE_TLS_CERT and IMPRINT_DEVICE_TLS_KEY go together")
	}
	for name, addr := range map[string]string{"IMPRINT_MQTT_LISTEN": c.MQTTListen, "IMPRINT_DEVICE_LISTEN": c.DeviceListen} {
		if addr == "off" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: %w (or \"off\")", name, addr, err)
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("metrics listen address %q: %w", c.MetricsListen, err)
		}
	}
	if c.Passphrase != "" && c.PassphraseFile != "" {
		return errors.New("set IMPRINT_CA_PASSPHRASE or IMPRINT_CA_PASSPHRASE_FILE, not both")
	}
	var err error
	if c.outboundAllow, err = imprint.ParsePrefixes(c.OutboundAllow); err != nil {
		return fmt.Errorf("IMPRINT_OUTBOUND_ALLOW: %w", err)
	}
	if c.trustedProxies, err = imprint.ParsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("IMPRINT_TRUSTED_PROXIES: %w", err)
	}
	return nil
}

// publicURL returns the configured public URL, or one made from the listen
// address.
func (c *config) publicURL(actual net.Addr) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(actual.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}

// ensureDataDir creates the data directory, private to its owner. (When
// running as root, the private PostgreSQL runs as another user with its
// cluster outside the data directory; only a cluster that an earlier version
// made inside needs the data directory traversable, but not listable.)
func (c *config) ensureDataDir() error {
	mode := os.FileMode(0o700)
	if _, err := os.Stat(filepath.Join(c.DataDir, "postgres", "cluster", "PG_VERSION")); err == nil && os.Geteuid() == 0 {
		mode = 0o711
	}
	if err := os.MkdirAll(c.DataDir, mode); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return os.Chmod(c.DataDir, mode)
}

// passphrase returns the CA key passphrase. With none configured, it uses
// (creating it on first start) a random one in the data directory: fine for a
// single machine, but keep it apart from the keys in production.
func (c *config) passphrase(log *slog.Logger) ([]byte, error) {
	switch {
	case c.Passphrase != "":
		return []byte(c.Passphrase), nil
	case c.PassphraseFile != "":
		b, err := os.ReadFile(c.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("read CA passphrase file: %w", err)
		}
		if b = bytes.TrimRight(b, "\r\n"); len(b) == 0 {
			return nil, errors.New("the CA passphrase file is empty")
		}
		return b, nil
	}
	path := filepath.Join(c.DataDir, "ca-passphrase")
	b, err := os.ReadFile(path)
	if err == nil {
		return bytes.TrimRight(b, "\r\n"), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	pass := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(pass+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	log.Warn("no CA passphrase configured; generated one beside the keys (set IMPRINT_CA_PASSPHRASE_FILE to keep it elsewhere)",
		"path", path)
	return []byte(pass), nil
}

// devices returns the device gateway's settings: its listeners ("off" is
// none), and the listeners' certificate, loaded from the files when given.
func (c *config) devices() (*imprintserver.Devices, error) {
	d := &imprintserver.Devices{MQTTAddress: c.MQTTListen, DeviceAddress: c.DeviceListen}
	if d.MQTTAddress == "off" {
		d.MQTTAddress = ""
	}
	if d.DeviceAddress == "off" {
		d.DeviceAddress = ""
	}
	if d.MQTTAddress == "" && d.DeviceAddress == "" {
		return nil, nil
	}
	for _, h := range strings.Split(c.DeviceHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			d.Hostnames = append(d.Hostnames, h)
		}
	}
	if c.DeviceTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.DeviceTLSCert, c.DeviceTLSKey)
		if err != nil {
			return nil, fmt.Errorf("load the device listeners' certificate: %w", err)
		}
		d.Certificate = cert
	}
	return d, nil
}
