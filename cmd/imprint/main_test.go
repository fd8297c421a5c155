package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/device"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// syncBuffer collects a command's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getenvFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// server is a running `imprint serve`.
type server struct {
	url, token string
	mqtt       string // host:port of the MQTT listener
	devices    string // host:port of the HTTPS device API
	stop       func() error
}

var (
	readyRE   = regexp.MustCompile(`API:\s+(https?://\S+)/v1`)
	mqttRE    = regexp.MustCompile(`MQTT:\s+mqtts://(\S+)`)
	devicesRE = regexp.MustCompile(`Devices:\s+https://(\S+)/device/v1`)
)

// serveArgs are the arguments of a test server: every listener on a free
// loopback port, unless env names one.
func serveArgs(env map[string]string) []string {
	args := []string{"serve", "--listen", "127.0.0.1:0"}
	if env["IMPRINT_MQTT_LISTEN"] == "" {
		args = append(args, "--mqtt-listen", "127.0.0.1:0")
	}
	if env["IMPRINT_DEVICE_LISTEN"] == "" {
		args = append(args, "--device-listen", "127.0.0.1:0")
	}
	return args
}

var tokenRE = regexp.MustCompile(`\n\s+(imp_\S+)\n`)

// startServe runs `imprint serve` on a free port and waits until it is ready.
func startServe(t *testing.T, env map[string]string) *server {
	t.Helper()
	return startServeWith(t, env, http.DefaultClient)
}

// startServeWith is startServe with the client that polls /readyz.
func startServeWith(t *testing.T, env map[string]string, client *http.Client) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, serveArgs(env), getenvFrom(env), out, errOut) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("serve did not stop")
		}
		return nil
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if m := readyRE.FindStringSubmatch(out.String()); m != nil {
			s := &server{url: m[1], stop: stop}
			if tm := tokenRE.FindStringSubmatch(out.String()); tm != nil {
				s.token = tm[1]
			}
			if mm := mqttRE.FindStringSubmatch(out.String()); mm != nil {
				s.mqtt = mm[1]
			}
			if dm := devicesRE.FindStringSubmatch(out.String()); dm != nil {
				s.devices = dm[1]
			}
			waitReady(t, client, s.url)
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\nstdout: %s\nstderr: %s", err, out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve not ready\nstdout: %s\nstderr: %s", out.String(), errOut.String())
		}
	}
}

func waitReady(t *testing.T, client *http.Client, url string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() (bool, string) {
		resp, err := client.Get(url + "/readyz")
		if err != nil {
			return false, fmt.Sprintf("%s/readyz: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("%s/readyz = %d, want 200", url, resp.StatusCode)
	})
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": dataDir,
		"IMPRINT_CA_PASSPHRASE": "end to end", "IMPRINT_LOG_LEVEL": "warn"}
	s := startServe(t, env)
	if s.token == "" {
		t.Fatal("serve did not print the first admin token")
	}
	for _, path := range []string{"/readyz", "/metrics", "/v1/nope"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q, want nosniff", path, got)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("GET %s over plain HTTP: Strict-Transport-Security = %q, want none", path, got)
		}
		if path == "/metrics" && resp.StatusCode != http.StatusOK {
			t.Errorf("GET /metrics = %d, want 200 with IMPRINT_METRICS_LISTEN unset", resp.StatusCode)
		}
	}
	saved, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil || strings.TrimSpace(string(saved)) != s.token {
		t.Fatalf("admin-token file = %q, %v; want the printed token", saved, err)
	}
	if fi, _ := os.Stat(filepath.Join(dataDir, "admin-token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-token mode = %v, want 0600", fi.Mode().Perm())
	}
	keys, _ := filepath.Glob(filepath.Join(dataDir, "ca", "*.key"))
	if len(keys) != 2 {
		t.Fatalf("CA key files = %v, want root and issuing", keys)
	}
	for _, k := range keys {
		b, _ := os.ReadFile(k)
		if fi, _ := os.Stat(k); fi.Mode().Perm() != 0o600 || !strings.Contains(string(b), "ENCRYPTED PRIVATE KEY") {
			t.Errorf("%s: mode %v, encrypted %v; want 0600 and encrypted", k, fi.Mode().Perm(), strings.Contains(string(b), "ENCRYPTED"))
		}
	}

	// A factory token from the command line, then the factory client.
	var tokOut syncBuffer
	if err := run(context.Background(), []string{"token", "create", "--role", "factory", "--name", "line-9"}, getenvFrom(env), &tokOut, io.Discard); err != nil {
		t.Fatalf("token create: %v", err)
	}
	factory := strings.TrimSpace(tokOut.String())
	outDir := t.TempDir()
	var enrollOut syncBuffer
	err = run(context.Background(), []string{"device", "enroll", "--api", s.url, "--token", factory, "--cn", "sensor-0042", "--out", outDir},
		getenvFrom(nil), &enrollOut, io.Discard)
	if err != nil {
		t.Fatalf("device enroll: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(outDir, "device.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device.key: %v %v; want mode 0600", fi, err)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(outDir, "chain.pem"), filepath.Join(outDir, "device.crt")).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl verify: %v %s", err, out)
		}
		// The key and the certificate belong together.
		pub1, _ := exec.Command("openssl", "pkey", "-in", filepath.Join(outDir, "device.key"), "-pubout").Output()
		pub2, _ := exec.Command("openssl", "x509", "-in", filepath.Join(outDir, "device.crt"), "-noout", "-pubkey").Output()
		if len(pub1) == 0 || string(pub1) != string(pub2) {
			t.Errorf("device.key does not match device.crt")
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("openssl is required when CI is set")
	}

	// A small load run through the same client the bench command uses.
	c := device.NewClient(s.url, factory, nil)
	csrs, err := device.PrepareCSRs(40)
	if err != nil {
		t.Fatal(err)
	}
	res := device.RunIssueLoad(context.Background(), c, csrs, device.LoadOptions{Concurrency: 4, Batch: 10})
	if res.Issued != 40 || res.Failed != 0 {
		t.Errorf("load: issued %d failed %d (%v), want 40, 0", res.Issued, res.Failed, res.FirstError)
	}

	var list syncBuffer
	if err := run(context.Background(), []string{"ca", "list"}, getenvFrom(env), &list, io.Discard); err != nil ||
		!strings.Contains(list.String(), "root") || !strings.Contains(list.String(), "issuing") {
		t.Errorf("ca list = %q, %v", list.String(), err)
	}
	var ver syncBuffer
	if err := run(context.Background(), []string{"migrate", "version"}, getenvFrom(env), &ver, io.Discard); err != nil ||
		!strings.HasPrefix(ver.String(), "schema version ") {
		t.Errorf("migrate version = %q, %v", ver.String(), err)
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve returned %v after shutdown, want nil", err)
	}

	// A second start finds the CA and the token: no new ones.
	s2 := startServe(t, env)
	defer s2.stop()
	if s2.token != "" {
		t.Error("a second start printed a new admin token")
	}
	if keys2, _ := filepath.Glob(filepath.Join(dataDir, "ca", "*.key")); len(keys2) != 2 {
		t.Errorf("a second start made CA keys again: %v", keys2)
	}
}

// TestServeWithPrivatePostgres is `make run`: no database URL, so serve runs
// its own PostgreSQL in the data directory and stops it on exit.
func TestServeWithPrivatePostgres(t *testing.T) {
	if _, err := exec.LookPath("initdb"); err != nil {
		if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
			if os.Getenv("CI") != "" {
				t.Fatal("PostgreSQL server binaries are required when CI is set")
			}
			t.Skip("no PostgreSQL server binaries (CI unset)")
		}
	}
	dataDir := t.TempDir()
	// Like a checkout in /root: directories only their owner may enter. (As
	// root, PostgreSQL runs as another user, which cannot reach them.)
	os.Chmod(dataDir, 0o700)
	os.Chmod(filepath.Dir(dataDir), 0o700)
	// A relative data directory, as `make run` uses.
	t.Chdir(dataDir)
	env := map[string]string{"IMPRINT_DATA_DIR": "data", "IMPRINT_LOG_LEVEL": "warn"}
	s := startServe(t, env)
	cluster := filepath.Join(dataDir, "data", "postgres", "cluster")
	if b, err := os.ReadFile(filepath.Join(dataDir, "data", "postgres", "cluster-dir")); err == nil {
		cluster = strings.TrimSpace(string(b)) // as root: outside the data directory
		t.Cleanup(func() { os.RemoveAll(filepath.Dir(cluster)) })
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "data")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", fi, err)
	}
	c := device.NewClient(s.url, s.token, nil)
	if _, err := device.Enroll(context.Background(), c, "private-1", "", ""); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	// A client command shares the running server, and says so only at debug level.
	var listOut, listErr syncBuffer
	clientEnv := map[string]string{"IMPRINT_DATA_DIR": "data", "IMPRINT_LOG_LEVEL": "info"}
	if err := run(context.Background(), []string{"token", "list"}, getenvFrom(clientEnv), &listOut, &listErr); err != nil ||
		!strings.Contains(listOut.String(), "first-admin") {
		t.Fatalf("token list = %q, %v; stderr %s", listOut.String(), err, listErr.String())
	}
	if strings.Contains(listErr.String(), "private PostgreSQL") {
		t.Errorf("token list, sharing the server's private PostgreSQL, logged at info: %s", listErr.String())
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cluster, "PG_VERSION")); err != nil {
		t.Errorf("no cluster at %s: %v", cluster, err)
	}
	if _, err := os.Stat(filepath.Join(cluster, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("the private PostgreSQL is still running after serve stopped (postmaster.pid: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "data", "ca-passphrase")); err != nil {
		t.Errorf("no generated CA passphrase: %v", err)
	}
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"frobnicate"}, {"ca", "nope"}, {"device", "enroll"}, {"bench", "issue", "--batch", "5000", "--token", "x"}} {
		if err := run(context.Background(), args, getenvFrom(nil), io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
	var out syncBuffer
	if err := run(context.Background(), []string{"version"}, getenvFrom(nil), &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "imprint ") {
		t.Errorf("version = %q, %v", out.String(), err)
	}
}

// TestTokenCreateDuplicateName: a name already taken is refused with a
// message for the operator, not the database's error.
func TestTokenCreateDuplicateName(t *testing.T) {
	t.Parallel()
	env := getenvFrom(map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "duplicate token", "IMPRINT_LOG_LEVEL": "warn"})
	args := []string{"token", "create", "--role", "factory", "--name", "line-7"}
	if err := run(context.Background(), args, env, io.Discard, io.Discard); err != nil {
		t.Fatalf("token create: %v", err)
	}
	var out syncBuffer
	err := run(context.Background(), args, env, &out, io.Discard)
	if err == nil {
		t.Fatal("token create with a taken name = nil, want an error")
	}
	if got, want := errorText(err), `a token named "line-7" already exists`; got != want {
		t.Errorf("printed error = %q, want %q", got, want)
	}
	if out.String() != "" {
		t.Errorf("stdout = %q, want no token", out.String())
	}
}
