package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// CreateToken records an API token (its hash, never its secret) and its
// token.created audit event in one transaction. Returns Conflict if the name
// is taken.
func (db *DB) CreateToken(ctx context.Context, t *imprint.Token, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO api_tokens (id, name, role, hash) VALUES ($1, $2, $3, $4)
			RETURNING created_at`, t.ID, t.Name, string(t.Role), t.Hash).Scan(&t.CreatedAt)
		if constraintOf(err) == "api_tokens_name_key" {
			return imprint.Errorf(imprint.Conflict, "a token named %q already exists", t.Name)
		}
		if err != nil {
			return fmt.Errorf("insert token %s: %w", t.Name, err)
		}
		return insertEvent(ctx, tx, imprint.EventTokenCreated, "token", t.ID, actor,
			map[string]string{"name": t.Name, "role": string(t.Role)})
	})
}

// Token returns the token with the given ID and records that it was used.
// Returns NotFound if there is none.
func (db *DB) Token(ctx context.Context, id string) (*imprint.Token, error) {
	var (
		t    imprint.Token
		role string
	)
	err := db.pool.QueryRow(ctx, `
		UPDATE api_tokens SET last_used_at = now() WHERE id = $1
		RETURNING id, name, role, hash, created_at`, id).Scan(&t.ID, &t.Name, &role, &t.Hash, &t.CreatedAt)
	if err != nil {
		if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
			return nil, imprint.Errorf(imprint.NotFound, "token not found")
		}
		return nil, mapError(fmt.Errorf("select token: %w", err))
	}
	t.Role = imprint.Role(role)
	return &t, nil
}

// CountTokens returns how many API tokens exist.
func (db *DB) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens`).Scan(&n); err != nil {
		return 0, mapError(fmt.Errorf("count tokens: %w", err))
	}
	return n, nil
}
