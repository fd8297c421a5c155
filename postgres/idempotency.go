package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// Idempotency-Keys are written only with the response they answer: the row
// is inserted by the transaction that records the request's certificates
// (completeIdempotent), never before. A request that does not commit, because
// it failed, lost its database connection or its process died, leaves
// nothing behind, so its key is free again as soon as the database answers.
// Two requests with one key that race to commit cannot both record: the
// second insert finds the first's row and fails its whole transaction.
//
// Rows with no completed_at were written as claims by earlier versions; they
// are read as absent and overwritten by the first completion.

// IdempotentRecord returns the response recorded for the key, or nil if no
// request with the key has committed.
func (db *DB) IdempotentRecord(ctx context.Context, tokenID string, keyHash []byte) (*imprint.IdempotentRecord, error) {
	rec := &imprint.IdempotentRecord{}
	err := db.pool.QueryRow(ctx, `
		SELECT request_hash, status_code, response
		FROM idempotency_keys
		WHERE token_id = $1 AND key_hash = $2 AND completed_at IS NOT NULL`,
		tokenID, keyHash).Scan(&rec.RequestHash, &rec.StatusCode, &rec.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapError(fmt.Errorf("read idempotency key: %w", err))
	}
	return rec, nil
}

// PruneIdempotencyKeys deletes records older than age and returns how many.
func (db *DB) PruneIdempotencyKeys(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := db.pool.Exec(ctx, `
		DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, age.Seconds())
	if err != nil {
		return 0, mapError(fmt.Errorf("prune idempotency keys: %w", err))
	}
	return tag.RowsAffected(), nil
}

// completeIdempotent records the responses rs in tx, one statement for all of
// them. It returns Conflict, which fails tx and so the certificates with it,
// if a response is already recorded for one of the keys.
func completeIdempotent(ctx context.Context, tx pgx.Tx, rs []*imprint.IdempotentResponse) error {
	if len(rs) == 0 {
		return nil
	}
	tokens, keys, reqs := make([]string, len(rs)), make([][]byte, len(rs)), make([][]byte, len(rs))
	codes, bodies := make([]int32, len(rs)), make([][]byte, len(rs))
	for i, r := range rs {
		tokens[i], keys[i], reqs[i], codes[i], bodies[i] = r.TokenID, r.KeyHash, r.RequestHash, int32(r.StatusCode), r.Body
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO idempotency_keys (token_id, key_hash, request_hash, status_code, response, created_at, completed_at)
		SELECT token_id, key_hash, request_hash, status_code, response, now(), now()
		FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::int4[], $5::bytea[])
		     AS v(token_id, key_hash, request_hash, status_code, response)
		ON CONFLICT (token_id, key_hash) DO UPDATE
			SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
			    response = EXCLUDED.response, created_at = now(), completed_at = now()
			WHERE idempotency_keys.completed_at IS NULL`,
		tokens, keys, reqs, codes, bodies)
	if err != nil {
		return fmt.Errorf("record idempotent responses: %w", err)
	}
	if tag.RowsAffected() != int64(len(rs)) {
		return imprint.Errorf(imprint.Conflict, "a request with this Idempotency-Key was already recorded")
	}
	return nil
}
