package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// crlLockClass is the first key of the advisory locks that let one replica
// at a time publish a CA's CRLs.
const crlLockClass = 0x494d5052 // "IMPR"

// deltaMargin widens the window of a delta CRL backwards: a change is dated
// by the start of its transaction, which may precede the base CRL's snapshot
// while committing after it. Listing a few entries twice is harmless.
const deltaMargin = 10 * time.Minute

// keptCRLs is how many CRLs of each kind are kept per CA.
const keptCRLs = 5

// PublishCRL builds, signs and stores the next full CRL of a CA, and a delta
// CRL against the oldest full CRL still valid, from one snapshot, under an
// advisory lock so that replicas never race for a number. It returns the new
// full CRL, or nil if another replica holds the lock. Entries of certificates
// that expired more than a validity ago are dropped (RFC 5280 3.3 permits
// removing entries once they have appeared on a CRL issued after expiry).
func (db *DB) PublishCRL(ctx context.Context, caID string, validity time.Duration, sign imprint.CRLSigner) (*imprint.CRL, error) {
	var out *imprint.CRL
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, mapError(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, crlLockClass, caID).Scan(&locked); err != nil {
		return nil, mapError(fmt.Errorf("lock CRL of %s: %w", caID, err))
	}
	if !locked {
		return nil, nil
	}
	// Under REPEATABLE READ this sees exactly the marks of the changes this
	// snapshot sees; a later change keeps its mark or fails this transaction.
	if _, err := tx.Exec(ctx, `DELETE FROM crl_dirty WHERE ca_id = $1`, caID); err != nil {
		return nil, mapError(fmt.Errorf("clear CRL mark of %s: %w", caID, err))
	}
	var number int64
	var builtAt time.Time
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(number), 0) + 1, now() FROM crls WHERE ca_id = $1`, caID).
		Scan(&number, &builtAt); err != nil {
		return nil, mapError(fmt.Errorf("next CRL number: %w", err))
	}
	t := imprint.CRLTemplate{Number: number, ThisUpdate: builtAt.UTC().Truncate(time.Second), NextUpdate: builtAt.Add(validity).UTC().Truncate(time.Second)}
	// The size of the last CRL sizes the buffer of this one.
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(entries), 0) FROM crls WHERE ca_id = $1 AND NOT delta
		AND number = (SELECT max(number) FROM crls WHERE ca_id = $1 AND NOT delta)`, caID).Scan(&t.Entries); err != nil {
		return nil, mapError(fmt.Errorf("last CRL size: %w", err))
	}
	full, err := buildCRL(ctx, tx, caID, t, sign, fullEntriesSQL, builtAt.Add(-validity))
	if err != nil {
		return nil, err
	}
	out = full
	var baseNumber int64
	var baseBuilt time.Time
	err = tx.QueryRow(ctx, `SELECT number, built_at FROM crls WHERE ca_id = $1 AND NOT delta AND next_update > $2
		ORDER BY number LIMIT 1`, caID, builtAt).Scan(&baseNumber, &baseBuilt)
	switch {
	case err == nil:
		t.DeltaBase, t.Entries = baseNumber, 0
		if _, err := buildCRL(ctx, tx, caID, t, sign, deltaEntriesSQL, baseBuilt.Add(-deltaMargin)); err != nil {
			return nil, err
		}
	case err != pgx.ErrNoRows:
		return nil, mapError(fmt.Errorf("base CRL: %w", err))
	}
	if _, err := tx.Exec(ctx, `DELETE FROM crls WHERE ca_id = $1 AND number <= $2::bigint - $3::bigint
		AND number NOT IN (SELECT number FROM crls WHERE ca_id = $1 AND NOT delta AND next_update > $4)`,
		caID, number, keptCRLs, builtAt); err != nil {
		return nil, mapError(fmt.Errorf("prune CRLs: %w", err))
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, imprint.ChannelCRLs, caID); err != nil {
		return nil, mapError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, mapError(fmt.Errorf("commit CRL: %w", err))
	}
	return out, nil
}

// The entries of a full CRL: revoked and held certificates not long expired.
const fullEntriesSQL = `
	SELECT serial, CASE WHEN status = 'REVOKED' THEN revoked_at ELSE status_changed_at END,
	       CASE WHEN status = 'REVOKED' THEN revocation_reason ELSE 6 END
	FROM certificates
	WHERE ca_id = $1 AND status IN ('REVOKED', 'INACTIVE') AND not_after > $2`

// The entries of a delta CRL: what changed since its base (RFC 5280 5.2.4):
// certificates revoked or put on hold since, and those released from hold
// since (removeFromCRL, 5.3.1). A certificate merely issued or activated is
// not a change of a CRL. Each branch reads a partial index of the few rows it
// wants, however many certificates the CA has.
const deltaEntriesSQL = `
	SELECT serial, CASE WHEN status = 'REVOKED' THEN revoked_at ELSE status_changed_at END,
	       CASE WHEN status = 'REVOKED' THEN revocation_reason ELSE 6 END
	FROM certificates
	WHERE ca_id = $1 AND status IN ('REVOKED', 'INACTIVE') AND status_changed_at > $2
	UNION ALL
	SELECT serial, released_from_hold_at, 8
	FROM certificates
	WHERE ca_id = $1 AND status = 'ACTIVE' AND released_from_hold_at > $2`

func buildCRL(ctx context.Context, tx pgx.Tx, caID string, t imprint.CRLTemplate, sign imprint.CRLSigner, query string, since time.Time) (*imprint.CRL, error) {
	rows, err := tx.Query(ctx, query, caID, since)
	if err != nil {
		return nil, mapError(fmt.Errorf("read CRL entries: %w", err))
	}
	defer rows.Close()
	n := 0
	next := func() (imprint.CRLEntry, bool, error) {
		if !rows.Next() {
			return imprint.CRLEntry{}, false, rows.Err()
		}
		var e imprint.CRLEntry
		var reason int16
		if err := rows.Scan(&e.Serial, &e.RevokedAt, &reason); err != nil {
			return e, false, err
		}
		e.Reason = imprint.RevocationReason(reason)
		n++
		return e, true, nil
	}
	der, err := sign(t, next)
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("sign CRL %d of %s: %w", t.Number, caID, err)
	}
	c := &imprint.CRL{CAID: caID, Number: t.Number, Delta: t.DeltaBase != 0, BaseNumber: t.DeltaBase,
		ThisUpdate: t.ThisUpdate, NextUpdate: t.NextUpdate, Entries: n, DER: der, BuiltAt: t.ThisUpdate}
	var base *int64
	if c.Delta {
		base = &c.BaseNumber
	}
	_, err = tx.Exec(ctx, `INSERT INTO crls (ca_id, number, delta, base_number, this_update, next_update, entries, der, built_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())`, caID, c.Number, c.Delta, base, c.ThisUpdate, c.NextUpdate, n, der)
	if err != nil {
		return nil, mapError(fmt.Errorf("store CRL: %w", err))
	}
	return c, nil
}

// LatestCRL returns the newest full (or delta) CRL of a CA. Returns NotFound
// if none is published.
func (db *DB) LatestCRL(ctx context.Context, caID string, delta bool) (*imprint.CRL, error) {
	c := imprint.CRL{CAID: caID, Delta: delta}
	var base *int64
	err := db.pool.QueryRow(ctx, `SELECT number, base_number, this_update, next_update, entries, der, built_at
		FROM crls WHERE ca_id = $1 AND delta = $2 ORDER BY number DESC LIMIT 1`, caID, delta).
		Scan(&c.Number, &base, &c.ThisUpdate, &c.NextUpdate, &c.Entries, &c.DER, &c.BuiltAt)
	if err != nil {
		if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
			return nil, imprint.Errorf(imprint.NotFound, "no CRL is published for CA %s yet", caID)
		}
		return nil, mapError(fmt.Errorf("select CRL: %w", err))
	}
	if base != nil {
		c.BaseNumber = *base
	}
	return &c, nil
}

// CRLNumbers returns every stored CRL number of a CA, for tests and audits.
func (db *DB) CRLNumbers(ctx context.Context, caID string, delta bool) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT number FROM crls WHERE ca_id = $1 AND delta = $2 ORDER BY number`, caID, delta)
	if err != nil {
		return nil, mapError(err)
	}
	n, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return n, mapError(err)
}

// DirtyCRLs returns the CAs whose CRL is out of date.
func (db *DB) DirtyCRLs(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT ca_id FROM crl_dirty ORDER BY since`)
	if err != nil {
		return nil, mapError(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapError(err)
}
