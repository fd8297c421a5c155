// Package postgres is Imprint's store: the only package that speaks SQL. It
// holds a pgx pool, applies the migrations, and maps PostgreSQL errors to
// Imprint's error kinds in one place.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/imprint-iot/imprint"
)

// DB is the store. It is safe for concurrent use. Close releases it.
type DB struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	writer  *certWriter
	devices *groupQueue[*deviceUnit]
	// authzGen counts committed changes of what decides connections.
	authzGen atomic.Uint64
}

// Open connects to the database at url and checks that it answers. It does
// not migrate; see Migrate.
func Open(ctx context.Context, url string, log *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "database URL: %v", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "imprint"
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	if cfg.MinIdleConns < 2 {
		cfg.MinIdleConns = 2
	}
	cfg.MaxConnLifetime = 45 * time.Minute
	cfg.MaxConnLifetimeJitter = 5 * time.Minute
	cfg.PingTimeout = 3 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, &imprint.Error{Kind: imprint.Unavailable, Message: "database unreachable", Err: err}
	}
	db := &DB{pool: pool, log: log}
	db.writer = newCertWriter(db, 1)
	db.devices = newGroupQueue(deviceWriters, maxDeviceGroup, db.commitDevices)
	return db, nil
}

// Close stops the group writers and closes every connection.
func (db *DB) Close() {
	db.writer.close()
	db.devices.close()
	db.pool.Close()
}

// Ping returns Unavailable if the database does not answer.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return &imprint.Error{Kind: imprint.Unavailable, Message: "database unreachable", Err: err}
	}
	return nil
}

// Stats reports the pool's connection counts, for metrics.
func (db *DB) Stats() *pgxpool.Stat { return db.pool.Stat() }

// inTx runs fn in a transaction that is committed if fn returns nil and
// rolled back otherwise.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return mapError(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return mapError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return mapError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// constraintMessages names, for each unique or foreign-key constraint a
// client can trip, the message it sees.
var constraintMessages = map[string]string{
	"cas_name_key":               "a CA with this name already exists",
	"certificates_pkey":          "this certificate is already recorded",
	"certificates_ca_serial_key": "a certificate with this serial already exists for the CA",
	"api_tokens_name_key":        "a token with this name already exists",
	"certificates_ca_id_fkey":    "unknown CA",
	"idempotency_keys_pkey":      "a request with this Idempotency-Key is already recorded",
	"cas_parent_id_fkey":         "unknown parent CA",
	"certificates_status_check":  "invalid certificate status",
	"api_tokens_role_check":      "invalid role",
	"cas_status_check":           "invalid CA status",
}

// constraintOf returns the name of the constraint err violates, or "".
func constraintOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// mapError gives err the Imprint kind it has: NotFound for no rows, Conflict
// for unique violations (with the constraint's message), Aborted for
// serialization failures and deadlocks, Unavailable when the database cannot
// be reached. Other errors are returned as they are.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var ie *imprint.Error
	if errors.As(err, &ie) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &imprint.Error{Kind: imprint.NotFound, Message: "not found", Err: err}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return &imprint.Error{Kind: imprint.Unavailable, Message: "database unavailable", Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := constraintMessages[pe.ConstraintName]
		switch {
		case pe.Code == "23505": // unique_violation
			if msg == "" {
				msg = "already exists"
			}
			return &imprint.Error{Kind: imprint.Conflict, Message: msg, Err: err}
		case pe.Code == "23503": // foreign_key_violation
			if msg == "" {
				msg = "refers to a resource that does not exist"
			}
			return &imprint.Error{Kind: imprint.NotFound, Message: msg, Err: err}
		case pe.Code == "40001", pe.Code == "40P01": // serialization_failure, deadlock_detected
			return &imprint.Error{Kind: imprint.Aborted, Message: "a concurrent change got in the way; retry the request", Err: err}
		case pe.Code == "23514": // check_violation
			if msg == "" {
				msg = "value out of range"
			}
			return &imprint.Error{Kind: imprint.Invalid, Message: msg, Err: err}
		case pe.Code[:2] == "08", pe.Code[:2] == "53", pe.Code[:2] == "57": // connection, resources, operator intervention
			return &imprint.Error{Kind: imprint.Unavailable, Message: "database unavailable", Err: err}
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, puddle.ErrClosedPool) {
		return &imprint.Error{Kind: imprint.Unavailable, Message: "database unavailable", Err: err}
	}
	return err
}
