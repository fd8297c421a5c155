package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

const tokenColumns = `id, name, role, hash, created_at, last_used_at, revoked_at, coalesce(revoked_by, '')`

func scanToken(row pgx.Row) (*imprint.Token, error) {
	var (
		t                 imprint.Token
		role              string
		lastUsed, revoked *time.Time
	)
	if err := row.Scan(&t.ID, &t.Name, &role, &t.Hash, &t.CreatedAt, &lastUsed, &revoked, &t.RevokedBy); err != nil {
		return nil, err
	}
	t.Role = imprint.Role(role)
	if lastUsed != nil {
		t.LastUsedAt = *lastUsed
	}
	if revoked != nil {
		t.RevokedAt = *revoked
	}
	return &t, nil
}

// Token returns the token with the given ID, revoked or not. Returns
// NotFound if there is none.
func (db *DB) Token(ctx context.Context, id string) (*imprint.Token, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, imprint.Errorf(imprint.NotFound, "token %s not found", id)
	}
	if err != nil {
		return nil, mapError(fmt.Errorf("select token %s: %w", id, err))
	}
	return t, nil
}

// TokenUsed records that the token with the given ID authenticated a request.
// It writes at most once a minute per token, so that callers may call it on
// every verification; a revoked or unknown token is left alone.
func (db *DB) TokenUsed(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now()
		WHERE id = $1 AND revoked_at IS NULL
		  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, id)
	if err != nil {
		return mapError(fmt.Errorf("record use of token %s: %w", id, err))
	}
	return nil
}

// Tokens returns the tokens matching f in name order, and the cursor of the
// next page ("" on the last page).
func (db *DB) Tokens(ctx context.Context, f imprint.TokenFilter) ([]*imprint.Token, string, error) {
	where := []string{`name > $1`}
	args := []any{f.After}
	add := func(clause string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(clause, len(args)))
	}
	if f.Name != "" {
		add("name = $%d", f.Name)
	}
	if f.Role != "" {
		add("role = $%d", string(f.Role))
	}
	if f.Revoked != nil {
		add("(revoked_at IS NOT NULL) = $%d", *f.Revoked)
	}
	limit := imprint.PageLimit(f.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY name LIMIT %d`, limit+1), args...)
	if err != nil {
		return nil, "", mapError(fmt.Errorf("list tokens: %w", err))
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, "", mapError(fmt.Errorf("list tokens: %w", err))
	}
	next := ""
	if len(ts) > limit {
		ts, next = ts[:limit], ts[limit-1].Name
	}
	return ts, next, nil
}

// RevokeToken revokes the token with the given ID for good: in one
// transaction it records who revoked it, writes a token.revoked audit event
// and notifies every replica (imprint.ChannelTokens), which then refuse the
// token at once. It returns the token as revoked. Returns NotFound if there
// is none, and Conflict if it is already revoked or is the last active admin
// token (create another admin token first).
func (db *DB) RevokeToken(ctx context.Context, id string, actor imprint.Actor) (*imprint.Token, error) {
	var out *imprint.Token
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// Lock the active admin tokens first, in one order, so that two
		// revocations of the last two admins cannot both pass the check.
		rows, err := tx.Query(ctx, `SELECT id FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL
			ORDER BY id FOR UPDATE`)
		if err != nil {
			return fmt.Errorf("lock admin tokens: %w", err)
		}
		admins, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("lock admin tokens: %w", err)
		}
		t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return imprint.Errorf(imprint.NotFound, "token %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("lock token %s: %w", id, err)
		}
		switch {
		case t.Revoked():
			return imprint.Errorf(imprint.Conflict, "token %s (%s) was already revoked at %s by %s", t.ID, t.Name,
				t.RevokedAt.UTC().Format(time.RFC3339), t.RevokedBy)
		case t.Role == imprint.RoleAdmin && len(admins) == 1:
			return imprint.Errorf(imprint.Conflict,
				"token %s (%s) is the last active admin token; create another admin token before revoking it", t.ID, t.Name)
		}
		var revoked time.Time
		if err := tx.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = now(), revoked_by = $2 WHERE id = $1
			RETURNING revoked_at`, id, actor.Name).Scan(&revoked); err != nil {
			return fmt.Errorf("revoke token %s: %w", id, err)
		}
		t.RevokedAt, t.RevokedBy = revoked, actor.Name
		if err := insertEvent(ctx, tx, imprint.EventTokenRevoked, "token", t.ID, actor,
			map[string]string{"name": t.Name, "role": string(t.Role)}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, imprint.ChannelTokens, t.ID); err != nil {
			return fmt.Errorf("notify revocation of token %s: %w", id, err)
		}
		out = t
		return nil
	})
	return out, err
}

// CountTokens returns how many API tokens exist.
func (db *DB) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens`).Scan(&n); err != nil {
		return 0, mapError(fmt.Errorf("count tokens: %w", err))
	}
	return n, nil
}
