package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// IdempotencyPendingTimeout is how long a claimed Idempotency-Key with no
// stored response blocks retries. Past it, the request that claimed it is
// taken to have died, and a retry may claim the key again.
const IdempotencyPendingTimeout = 2 * time.Minute

// ClaimIdempotencyKey claims the key for a request whose body hashes to
// requestHash. It returns nil if the key was free (the caller now owns it and
// must complete it through CreateCertificates or release it with
// ReleaseIdempotencyKey), or the record an earlier request left.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, tokenID string, keyHash, requestHash []byte) (*imprint.IdempotentRecord, error) {
	var rec *imprint.IdempotentRecord
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO idempotency_keys (token_id, key_hash, request_hash)
			VALUES ($1, $2, $3)
			ON CONFLICT (token_id, key_hash) DO UPDATE
				SET request_hash = EXCLUDED.request_hash, created_at = now()
				WHERE idempotency_keys.completed_at IS NULL
				  AND idempotency_keys.created_at < now() - make_interval(secs => $4)`,
			tokenID, keyHash, requestHash, IdempotencyPendingTimeout.Seconds())
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		rec = &imprint.IdempotentRecord{}
		var status *int32
		err = tx.QueryRow(ctx, `
			SELECT request_hash, completed_at IS NOT NULL, status_code, response
			FROM idempotency_keys WHERE token_id = $1 AND key_hash = $2`,
			tokenID, keyHash).Scan(&rec.RequestHash, &rec.Completed, &status, &rec.Body)
		if err != nil {
			return fmt.Errorf("read idempotency key: %w", err)
		}
		if status != nil {
			rec.StatusCode = int(*status)
		}
		return nil
	})
	return rec, err
}

// ReleaseIdempotencyKey gives up a claim whose request failed before it
// issued anything, so that a corrected retry may use the key.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, tokenID string, keyHash []byte) error {
	_, err := db.pool.Exec(ctx, `
		DELETE FROM idempotency_keys
		WHERE token_id = $1 AND key_hash = $2 AND completed_at IS NULL`, tokenID, keyHash)
	if err != nil {
		return mapError(fmt.Errorf("release idempotency key: %w", err))
	}
	return nil
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

func completeIdempotent(ctx context.Context, tx pgx.Tx, r *imprint.IdempotentResponse) error {
	tag, err := tx.Exec(ctx, `
		UPDATE idempotency_keys
		SET status_code = $3, response = $4, completed_at = now()
		WHERE token_id = $1 AND key_hash = $2 AND completed_at IS NULL`,
		r.TokenID, r.KeyHash, r.StatusCode, r.Body)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return imprint.Errorf(imprint.Conflict, "the Idempotency-Key was claimed by another request")
	}
	return nil
}
