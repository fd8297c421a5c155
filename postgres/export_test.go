package postgres

import "context"

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
