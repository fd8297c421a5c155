package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint/postgres"
)

// needPostgresBinaries skips t where initdb is missing, unless CI is set.
func needPostgresBinaries(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("initdb"); err == nil {
		return
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) > 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("PostgreSQL server binaries are required when CI is set")
	}
	t.Skip("no PostgreSQL server binaries (CI unset)")
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustStartLocal(t *testing.T, dir string) *postgres.Local {
	t.Helper()
	l, err := postgres.StartLocal(context.Background(), dir, discardLog())
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	return l
}

// canConnect reports whether Imprint's database on url answers.
func canConnect(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// TestLocalPrivateParent is `make run` as root from a checkout in /root (mode
// 0700): the server user cannot reach the data directory, so the cluster
// lives elsewhere, and the data directory names it.
func TestLocalPrivateParent(t *testing.T) {
	needPostgresBinaries(t)
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(home), 0o700)
	dir := filepath.Join(home, "checkout", "data", "postgres")
	l := mustStartLocal(t, dir)
	t.Cleanup(func() { l.Remove() })
	if err := canConnect(l.URL()); err != nil {
		t.Fatalf("connect to the private PostgreSQL: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v, %v; want mode 0600", fi, err)
	}
	pointer, err := os.ReadFile(filepath.Join(dir, "cluster-dir"))
	if os.Geteuid() != 0 {
		// The server runs as this user, in the data directory.
		if err == nil {
			t.Errorf("cluster-dir = %q, want none when not root", pointer)
		}
		if _, err := os.Stat(filepath.Join(dir, "cluster", "PG_VERSION")); err != nil {
			t.Errorf("no cluster in the data directory: %v", err)
		}
	} else {
		if err != nil {
			t.Fatalf("no cluster-dir pointer: %v", err)
		}
		cluster := strings.TrimSpace(string(pointer))
		if strings.HasPrefix(cluster, home) || !strings.HasPrefix(cluster, postgres.LocalClusterRoot+"/") {
			t.Errorf("cluster-dir = %q, want a directory under %s", cluster, postgres.LocalClusterRoot)
		}
		fi, err := os.Stat(filepath.Dir(cluster))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid == 0 {
			t.Errorf("%s: mode %v uid %d, want 0700 and the server user", filepath.Dir(cluster), fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid)
		}
		if fi, _ := os.Stat(dir); fi.Sys().(*syscall.Stat_t).Uid != 0 || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v uid %d, want 0700 and root's", dir, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
	if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o700 {
		t.Errorf("home mode = %v, want it left at 0700", fi.Mode().Perm())
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := canConnect(l.URL()); err == nil {
		t.Error("the server still answers after Stop")
	}
	// A second start finds the cluster again.
	l2 := mustStartLocal(t, dir)
	if err := canConnect(l2.URL()); err != nil {
		t.Errorf("connect after a restart: %v", err)
	}
	if err := l2.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// localHelper is the child process of TestLocalAdoptsAfterKill: an Imprint
// process that starts the server, prints its URL and waits to be killed.
func localHelper(dir string) int {
	l, err := postgres.StartLocal(context.Background(), dir, discardLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.URL())
	select {}
}

// TestLocalAdoptsAfterKill: two live processes share the server, and the one
// that did not start it leaves it running when it stops; once the starter is
// killed (kill -9), the next process adopts the server and stops it.
func TestLocalAdoptsAfterKill(t *testing.T) {
	needPostgresBinaries(t)
	// Reachable by the server user, so that only adoption is under test.
	top := t.TempDir()
	os.Chmod(top, 0o711)
	os.Chmod(filepath.Dir(top), 0o711)
	os.Mkdir(filepath.Join(top, "data"), 0o711)
	dir := filepath.Join(top, "data", "postgres")
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "IMPRINT_TEST_LOCAL_HELPER="+dir)
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the child did not start the server: %v", err)
	}
	url := strings.TrimSpace(line)

	shared := mustStartLocal(t, dir)
	t.Cleanup(func() { shared.Remove() })
	if shared.URL() != url {
		t.Errorf("second process URL = %q, want the running server's %q", shared.URL(), url)
	}
	if err := shared.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := canConnect(url); err != nil {
		t.Fatalf("the second process stopped the server under the first: %v", err)
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet, as when serve's parent does not wait: a zombie, which
	// is as dead as a process gets.
	waitZombie(t, child.Process.Pid)
	if err := canConnect(url); err != nil {
		t.Fatalf("the server died with the killed process: %v", err)
	}
	next := mustStartLocal(t, dir)
	if next.URL() != url {
		t.Errorf("next process URL = %q, want the running server's %q", next.URL(), url)
	}
	if err := next.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := canConnect(url); err == nil {
		t.Error("the server left by the killed process still runs after the next process stopped")
	}
}

// waitZombie waits until process pid has died but is not yet reaped.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // no /proc: nothing to wait for
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not die after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
