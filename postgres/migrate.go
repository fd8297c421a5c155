package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/imprint-iot/imprint/migrations"
)

// MigrationLockTimeout is how long a replica waits for another one's
// migration to finish. It is far longer than any migration takes, so that
// replicas starting at once wait rather than fail.
const MigrationLockTimeout = 10 * time.Minute

// migrationsTable is the table golang-migrate keeps its version in.
const migrationsTable = "schema_migrations"

// newMigrate returns a migrator on db's pool. Every caller (serve, the
// migrate subcommand, tests) builds it this one way, so that all of them take
// the same advisory lock.
func (db *DB) newMigrate(ctx context.Context) (*migrate.Migrate, error) {
	var name string
	if err := db.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		return nil, mapError(fmt.Errorf("current database: %w", err))
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("migration source: %w", err)
	}
	drv, err := migratepgx.WithInstance(stdlib.OpenDBFromPool(db.pool), &migratepgx.Config{
		DatabaseName:    name,
		MigrationsTable: migrationsTable,
	})
	if err != nil {
		return nil, mapError(fmt.Errorf("migration driver: %w", err))
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		return nil, fmt.Errorf("migrator: %w", err)
	}
	m.LockTimeout = MigrationLockTimeout
	return m, nil
}

// MigrateUp applies every migration not yet applied. A database that is
// already current is success.
func (db *DB) MigrateUp(ctx context.Context) error {
	return db.runMigration(ctx, func(m *migrate.Migrate) error { return m.Up() })
}

// MigrateDown reverts the last applied migration.
func (db *DB) MigrateDown(ctx context.Context) error {
	return db.runMigration(ctx, func(m *migrate.Migrate) error { return m.Steps(-1) })
}

// MigrationVersion returns the applied schema version and whether a failed
// migration left the database dirty. Version 0 means none is applied.
func (db *DB) MigrationVersion(ctx context.Context) (version uint, dirty bool, err error) {
	err = db.runMigration(ctx, func(m *migrate.Migrate) error {
		version, dirty, err = m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		return err
	})
	return version, dirty, err
}

func (db *DB) runMigration(ctx context.Context, fn func(*migrate.Migrate) error) error {
	m, err := db.newMigrate(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := fn(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
