package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// Tx is a transaction-scoped handle on the store, for a flow that changes
// several aggregates at once (a certificate, its thing, its policies and
// their audit events) and must leave all or nothing. Its methods are the
// store's, run in the transaction. It is valid only inside the function
// given to InTx.
//
// A step that fails ends the transaction: PostgreSQL refuses anything after
// an error in it, and InTx rolls it back when fn returns the error. Steps
// are not savepoints (two round trips each); where a flow expects a
// condition that is not an error to it, the step says so without failing
// (EnsurePolicy: a policy that exists already).
type Tx struct {
	tx pgx.Tx
}

// MaxAttempts is how many times InTx runs a transaction that a concurrent
// one got in the way of (a serialization failure or a deadlock) before it
// gives up with Aborted.
const MaxAttempts = 4

// InTx runs fn in one transaction, committed if fn returns nil and rolled
// back otherwise. When PostgreSQL aborts the transaction for a serialization
// failure or a deadlock (SQLSTATE 40001, 40P01), InTx rolls it back and runs
// fn again, up to MaxAttempts times, after a short random pause: fn must
// therefore have no effect outside the transaction, and must compute what it
// returns afresh on each run. Returns Aborted when every attempt was aborted,
// and fn's error (with its kind) otherwise.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		err = db.inTx(ctx, func(tx pgx.Tx) error { return fn(&Tx{tx: tx}) })
		if imprint.ErrorKind(err) != imprint.Aborted || attempt == MaxAttempts {
			return err
		}
		db.log.DebugContext(ctx, "transaction aborted by a concurrent one; retrying", "attempt", attempt, "err", err)
		pause := time.Duration(attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond
		select {
		case <-ctx.Done():
			return &imprint.Error{Kind: imprint.Unavailable, Message: "request ended while retrying", Err: ctx.Err()}
		case <-time.After(pause):
		}
	}
	return err
}

// Event records an audit event in the transaction; see imprint's Event* types.
func (tx *Tx) Event(ctx context.Context, typ, resourceType, resourceID string, actor imprint.Actor, data any) error {
	if err := insertEvent(ctx, tx.tx, typ, resourceType, resourceID, actor, data); err != nil {
		return mapError(fmt.Errorf("insert %s event: %w", typ, err))
	}
	return nil
}

// runner runs a function in a transaction: a new one for DB, the open one
// for Tx. The store's methods that flows compose are written once against
// it.
type runner interface {
	run(ctx context.Context, fn func(pgx.Tx) error) error
}

func (db *DB) run(ctx context.Context, fn func(pgx.Tx) error) error { return db.inTx(ctx, fn) }

func (tx *Tx) run(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapError(fn(tx.tx))
}
