package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// Local is a private PostgreSQL server that Imprint runs from the machine's
// PostgreSQL binaries when no database URL is configured. Its cluster lives
// in a directory of its own, listens on a free loopback port, and requires a
// password kept in a 0600 file in Imprint's directory for it.
//
// Every Imprint process that uses the server is recorded in that directory
// (the owners file); the last one to stop stops the server. A server whose
// recorded processes are all gone (killed, say) is adopted by the next one.
type Local struct {
	dir     string // Imprint's directory: password, owners, lock, cluster-dir
	cluster string // the cluster directory (PGDATA)
	bin     string // the directory holding initdb, pg_ctl and postgres
	url     string
	cred    *syscall.Credential // the user the server runs as when Imprint runs as root
	log     *slog.Logger
	owner   string // this Local's line in the owners file; "" once stopped
	shared  bool   // another live Imprint process used the server when this one started
}

// LocalDatabase is the name of the database Local creates for Imprint.
const LocalDatabase = "imprint"

// LocalClusterRoot holds the clusters of private servers that run as another
// user than Imprint (Imprint runs as root; PostgreSQL will not). Each has a
// directory of that user's, named from a hash of Imprint's directory, so that
// PostgreSQL need not reach the data directory, which may sit in a home
// directory only root can enter. The data directory names it in the file
// postgres/cluster-dir.
const LocalClusterRoot = "/var/lib/imprint-postgres"

// StartLocal starts (creating it first if need be) a private cluster for the
// directory dir, or shares the one already running for it, and returns it
// once it accepts connections. Stop stops it.
func StartLocal(ctx context.Context, dir string, log *slog.Logger) (*Local, error) {
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	// The PostgreSQL programs run elsewhere: they need the absolute path.
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	l := &Local{dir: dir, bin: bin, log: log}
	if os.Geteuid() == 0 {
		if l.cred, err = unprivilegedCredential(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", l.dir, err)
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if l.cluster, err = l.clusterPath(); err != nil {
		return nil, err
	}
	password, err := l.init()
	if err != nil {
		return nil, err
	}
	owners := l.liveOwners()
	if port, ok := l.running(); ok {
		l.shared = len(owners) > 0
		if len(owners) == 0 {
			l.log.Info("adopting the private PostgreSQL that an Imprint process now gone left running; it stops when this one does",
				"cluster", l.cluster)
		}
		if err := l.addOwner(owners); err != nil {
			return nil, err
		}
		if err := l.connect(ctx, password, port); err != nil {
			l.stopLocked()
			return nil, err
		}
		return l, nil
	}
	var port int
	for attempt := 0; ; attempt++ {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		if err = l.start(port); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if err := l.addOwner(owners); err != nil {
		l.run("pg_ctl", "stop", "-D", l.cluster, "-m", "fast", "-w", "-t", "60")
		return nil, err
	}
	if err := l.connect(ctx, password, port); err != nil {
		l.stopLocked()
		return nil, err
	}
	return l, nil
}

// connect sets the URL and makes sure Imprint's database exists.
func (l *Local) connect(ctx context.Context, password string, port int) error {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("imprint", password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/" + LocalDatabase,
		RawQuery: "sslmode=disable"}
	l.url = u.String()
	return l.createDatabase(ctx, u)
}

// running reports whether the cluster's server is up, and its port. A server
// whose port cannot be read is stopped, and reported as not running.
func (l *Local) running() (int, bool) {
	pid, err := os.ReadFile(filepath.Join(l.cluster, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	if l.run("pg_ctl", "status", "-D", l.cluster) != nil {
		return 0, false
	}
	// postmaster.pid: pid, data directory, start time, port, …
	lines := strings.Split(string(pid), "\n")
	if len(lines) > 3 {
		if port, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil {
			return port, true
		}
	}
	_ = l.run("pg_ctl", "stop", "-D", l.cluster, "-m", "fast", "-w", "-t", "30")
	return 0, false
}

// URL returns the connection URL of Imprint's database on the server.
func (l *Local) URL() string { return l.url }

// Shared reports whether another live Imprint process was using the server
// when this one started: this one then neither started nor adopted it.
func (l *Local) Shared() bool { return l.shared }

// Stop stops the server, waiting for it to shut down, unless another live
// Imprint process uses it: then the server is left to that one to stop.
func (l *Local) Stop() error {
	if l.owner == "" {
		return nil
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return l.stopLocked()
}

// stopLocked is Stop with the lock held.
func (l *Local) stopLocked() error {
	others, err := l.removeOwner()
	if err != nil {
		return err
	}
	if len(others) > 0 {
		l.log.Debug("leaving the private PostgreSQL running for the other Imprint processes that use it", "processes", len(others))
		return nil
	}
	return l.run("pg_ctl", "stop", "-D", l.cluster, "-m", "fast", "-w", "-t", "60")
}

// Remove stops the server, whoever else uses it, and deletes the cluster and
// Imprint's directory for it. Tests use it to clean up servers they start.
func (l *Local) Remove() error {
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	err = l.run("pg_ctl", "stop", "-D", l.cluster, "-m", "fast", "-w", "-t", "60")
	unlock()
	l.owner = ""
	if err != nil && l.run("pg_ctl", "status", "-D", l.cluster) == nil {
		return err
	}
	if filepath.Dir(l.cluster) != l.dir {
		if err := os.RemoveAll(filepath.Dir(l.cluster)); err != nil {
			return err
		}
	}
	return os.RemoveAll(l.dir)
}

// clusterPath returns the cluster directory. It is dir/cluster unless the
// server runs as another user: then it is a directory of that user's under
// LocalClusterRoot (or the one dir/cluster-dir names), so that the server
// need not reach dir. A cluster made in dir by an earlier version stays.
func (l *Local) clusterPath() (string, error) {
	inPlace := filepath.Join(l.dir, "cluster")
	if l.cred == nil {
		return inPlace, nil
	}
	if _, err := os.Stat(filepath.Join(inPlace, "PG_VERSION")); err == nil {
		return inPlace, nil
	}
	pointer := filepath.Join(l.dir, "cluster-dir")
	b, err := os.ReadFile(pointer)
	if err == nil {
		p := strings.TrimSpace(string(b))
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("%s: want the absolute path of the cluster directory, have %q", pointer, p)
		}
		return p, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", pointer, err)
	}
	sum := sha256.Sum256([]byte(l.dir))
	p := filepath.Join(LocalClusterRoot, hex.EncodeToString(sum[:8]), "cluster")
	if err := os.WriteFile(pointer, []byte(p+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", pointer, err)
	}
	return p, nil
}

// init creates the cluster on first use and returns the password.
func (l *Local) init() (string, error) {
	pwFile := filepath.Join(l.dir, "password")
	if _, err := os.Stat(filepath.Join(l.cluster, "PG_VERSION")); err == nil {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return "", fmt.Errorf("read local database password: %w", err)
		}
		return string(bytes.TrimSpace(pw)), nil
	}
	// base holds the cluster and belongs to the server user.
	base := filepath.Dir(l.cluster)
	if base != l.dir {
		// Traversable, not listable, by the server user.
		if err := os.MkdirAll(filepath.Dir(base), 0o711); err != nil {
			return "", fmt.Errorf("create %s: %w", filepath.Dir(base), err)
		}
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", base, err)
	}
	b := make([]byte, 24)
	rand.Read(b)
	password := hex.EncodeToString(b)
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write local database password: %w", err)
	}
	// initdb reads the password from a file the server user can read; it is
	// removed as soon as initdb is done.
	tmp := filepath.Join(base, "initpw")
	if err := os.WriteFile(tmp, []byte(password+"\n"), 0o600); err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := l.chown(base, tmp); err != nil {
		return "", err
	}
	err := l.run("initdb", "-D", l.cluster, "-U", "imprint", "-E", "UTF8",
		"--auth=scram-sha-256", "--pwfile="+tmp, "--no-instructions")
	if err != nil && l.cred != nil {
		err = fmt.Errorf("%w (Imprint runs as root, so PostgreSQL runs as uid %d, which must be able to reach %s)",
			err, l.cred.Uid, l.cluster)
	}
	return password, err
}

func (l *Local) start(port int) error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' "+
		"-c max_connections=200 -c shared_buffers=256MB", port)
	return l.run("pg_ctl", "start", "-D", l.cluster, "-w", "-t", "60", "-s",
		"-l", filepath.Join(l.cluster, "server.log"), "-o", opts)
}

func (l *Local) createDatabase(ctx context.Context, u url.URL) error {
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("connect to local database: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		LocalDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("look up local database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+LocalDatabase); err != nil {
		return fmt.Errorf("create local database: %w", err)
	}
	return nil
}

// run runs one of the PostgreSQL programs, as the server user.
func (l *Local) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(l.bin, name), args...)
	cmd.Dir = os.TempDir()
	if l.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: l.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, bytes.TrimSpace(out))
	}
	return nil
}

func (l *Local) chown(paths ...string) error {
	if l.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(l.cred.Uid), int(l.cred.Gid)); err != nil {
			return fmt.Errorf("hand %s to the database user: %w", p, err)
		}
	}
	return nil
}

// findPostgresBin returns the directory of initdb and pg_ctl: PATH first, then
// the newest /usr/lib/postgresql/*/bin.
func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql; install the postgresql package or set IMPRINT_DATABASE_URL")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// unprivilegedCredential returns the user PostgreSQL runs as when Imprint
// runs as root (PostgreSQL refuses to run as root): "postgres", else "nobody".
func unprivilegedCredential() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and there is no postgres or nobody user to run PostgreSQL as")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
