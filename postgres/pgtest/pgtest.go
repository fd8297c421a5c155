// Package pgtest gives tests a fresh, migrated PostgreSQL database each.
//
// The server is IMPRINT_TEST_DATABASE_URL when that is set; otherwise the
// package starts a private server from the machine's PostgreSQL binaries once
// per test binary. TestMain migrates a template database once; each test then
// gets CREATE DATABASE … TEMPLATE, so tests run in parallel on a clean schema.
// With CI set, a missing database fails the run instead of skipping it.
package pgtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint/postgres"
)

var (
	serverURL string // a URL of the server's maintenance database
	template  string // the migrated template database
	counter   atomic.Int64
	skipWhy   string
)

// Main sets up the server and the template database, runs the tests, and
// cleans up. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int { return MainWith(m, nil) }

// MainWith is Main with seed run once on the migrated template database
// before the tests: what it writes, every test's database starts with. Tests
// that all need the same costly state (a CA, whose keys take a second to
// make) make it once this way.
func MainWith(m *testing.M, seed func(ctx context.Context, db *postgres.DB) error) int {
	ctx := context.Background()
	stop, err := setup(ctx)
	if err == nil && seed != nil {
		if err := seedTemplate(ctx, seed); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: seed the template database: %v\n", err)
			stop()
			return 1
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "pgtest: PostgreSQL is required when CI is set: %v\n", err)
			return 1
		}
		skipWhy = err.Error()
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

func setup(ctx context.Context) (stop func(), err error) {
	var local *postgres.Local
	serverURL = os.Getenv("IMPRINT_TEST_DATABASE_URL")
	if serverURL == "" {
		dir, err := os.MkdirTemp("", "imprint-pgtest-")
		if err != nil {
			return nil, err
		}
		os.Chmod(dir, 0o711)
		local, err = postgres.StartLocal(ctx, dir+"/pg", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start a private PostgreSQL (set IMPRINT_TEST_DATABASE_URL to use another): %w", err)
		}
		serverURL = local.URL()
		stop = func() { local.Remove(); os.RemoveAll(dir) }
	}
	template = fmt.Sprintf("imprint_tpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := exec(ctx, `CREATE DATABASE `+template); err != nil {
		if stop != nil {
			stop()
		}
		return nil, err
	}
	dropTemplate := func() { exec(ctx, `DROP DATABASE IF EXISTS `+template+` WITH (FORCE)`) }
	db, err := postgres.Open(ctx, withDatabase(serverURL, template), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		err = db.MigrateUp(ctx)
		db.Close()
	}
	if err != nil {
		dropTemplate()
		if stop != nil {
			stop()
		}
		return nil, fmt.Errorf("migrate template database: %w", err)
	}
	prev := stop
	return func() {
		dropTemplate()
		if prev != nil {
			prev()
		}
	}, nil
}

// URL returns the URL of a new database, migrated to the latest version, that
// is dropped when tb ends. Without a server it skips tb (Main has already
// failed the run when CI is set).
func URL(tb testing.TB) string {
	tb.Helper()
	if skipWhy != "" || template == "" {
		tb.Skipf("PostgreSQL unavailable (CI unset, so skipping): %s", skipWhy)
	}
	ctx := context.Background()
	name := fmt.Sprintf("%s_t%d", template, counter.Add(1))
	if err := exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template)); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return withDatabase(serverURL, name)
}

// Open returns a *postgres.DB on a new database (see URL), closed when tb ends.
func Open(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), URL(tb), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// Conn returns a plain connection to the database at url, closed when tb
// ends, for tests that check rows directly.
func Conn(tb testing.TB, dbURL string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// exec runs one statement on the server's maintenance database. CREATE and
// DROP DATABASE cannot run in a transaction, so each gets its own connection.
func exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

// seedTemplate runs seed on the template database, and closes its
// connections: a database with connections cannot be copied.
func seedTemplate(ctx context.Context, seed func(ctx context.Context, db *postgres.DB) error) error {
	db, err := postgres.Open(ctx, withDatabase(serverURL, template), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer db.Close()
	return seed(ctx, db)
}
