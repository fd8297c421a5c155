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
	// authz: the transaction changed what decides connections.
	authz bool
	// created names what the transaction created ("thing:<name>",
	// "certificate:<id>"): a change to it decides no connection kept.
	created map[string]bool
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
		var t *Tx
		err = db.inTx(ctx, func(tx pgx.Tx) error {
			t = &Tx{tx: tx}
			return fn(t)
		})
		if err == nil && t.authz {
			db.authzGen.Add(1)
		}
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

// runner runs a function in a transaction: a new one for DB.own, the open
// one for Tx. The store's methods that flows compose are written once
// against it.
type runner interface {
	run(ctx context.Context, fn func(pgx.Tx) error) error
	// changedAuthorization records that the transaction changed what
	// decides connections (see authorizationChanged).
	changedAuthorization()
	// create records that the transaction created key; createdHere tells
	// whether it did.
	create(key string)
	createdHere(key string) bool
}

func (tx *Tx) run(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapError(fn(tx.tx))
}

func (tx *Tx) changedAuthorization() { tx.authz = true }

func (tx *Tx) create(key string) {
	if tx.created == nil {
		tx.created = map[string]bool{}
	}
	tx.created[key] = true
}

func (tx *Tx) createdHere(key string) bool { return tx.created[key] }

// ownTx is the runner of one store call in a transaction of its own.
type ownTx struct {
	db    *DB
	authz bool
}

// own returns a runner for one call.
func (db *DB) own() *ownTx { return &ownTx{db: db} }

func (o *ownTx) run(ctx context.Context, fn func(pgx.Tx) error) error {
	o.authz = false
	err := o.db.inTx(ctx, fn)
	if err == nil && o.authz {
		o.db.authzGen.Add(1)
	}
	return err
}

func (o *ownTx) changedAuthorization()       { o.authz = true }
func (o *ownTx) create(string)               {}
func (o *ownTx) createdHere(key string) bool { return false }

// authorizationChanged has tx announce to every replica, when it commits,
// that what decides connections changed (imprint.ChannelAuthorization), and
// r count the change in this process once committed
// (DB.AuthorizationGeneration).
func authorizationChanged(ctx context.Context, r runner, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, imprint.ChannelAuthorization); err != nil {
		return fmt.Errorf("announce an authorization change: %w", err)
	}
	r.changedAuthorization()
	return nil
}

// AuthorizationGeneration counts the changes to what decides connections
// (imprint.ChannelAuthorization) committed through this DB. It moves on
// after the commit, before the call that made the change returns.
func (db *DB) AuthorizationGeneration() uint64 { return db.authzGen.Load() }
