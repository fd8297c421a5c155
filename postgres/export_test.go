package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// CountForTest runs a query that returns one integer. Tests only.
func (db *DB) CountForTest(ctx context.Context, sql string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

// ExecForTest runs a statement in the transaction. Tests only.
func (tx *Tx) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := tx.tx.Exec(ctx, sql, args...)
	return mapError(err)
}

// ExecForTest runs a statement outside any transaction. Tests only.
func (db *DB) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := db.pool.Exec(ctx, sql, args...)
	return mapError(err)
}

// EffectivePoliciesSQL is the query of EffectivePolicies. Tests only.
const EffectivePoliciesSQL = effectivePoliciesSQL

// ProvisionTogetherForTest runs devices through the group commit of first
// connections as one group, and reports which it applied. Tests only.
func (db *DB) ProvisionTogetherForTest(devices []*imprint.NewDevice) []bool {
	units := make([]*deviceUnit, len(devices))
	for i, d := range devices {
		units[i] = &deviceUnit{d: d, done: make(chan error, 1)}
	}
	db.commitDevices(units)
	applied := make([]bool, len(units))
	for i, u := range units {
		applied[i] = <-u.done == nil
	}
	return applied
}

// EventTypesByActorForTest returns the types of the events an actor
// wrote, in the order of the log. Tests only.
func (db *DB) EventTypesByActorForTest(ctx context.Context, actor string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT type FROM audit_events WHERE actor_name = $1 ORDER BY id`, actor)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// InsertDevicesForTest runs the group's statement alone, without the
// check before it, and reports whether it wrote the group. Tests only.
func (db *DB) InsertDevicesForTest(ctx context.Context, devices []*imprint.NewDevice) error {
	units := make([]*deviceUnit, len(devices))
	for i, d := range devices {
		units[i] = &deviceUnit{d: d}
	}
	return insertDevices(ctx, db.pool, units, time.Now().Truncate(time.Microsecond))
}
