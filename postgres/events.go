package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// insertEvent appends e to the audit log in tx, the transaction of the change
// it records.
func insertEvent(ctx context.Context, tx pgx.Tx, typ, resourceType, resourceID string, actor imprint.Actor, data any) error {
	var raw []byte
	if data != nil {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return fmt.Errorf("encode %s event: %w", typ, err)
		}
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO audit_events (type, resource_type, resource_id, actor_token, actor_name, actor_role, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		typ, resourceType, resourceID, nullable(actor.TokenID), actor.Name, string(actor.Role), raw)
	if err != nil {
		return fmt.Errorf("insert %s event: %w", typ, err)
	}
	return nil
}

// EventsFor returns the audit events of one resource, oldest first, at most
// limit of them.
func (db *DB) EventsFor(ctx context.Context, resourceType, resourceID string, limit int) ([]imprint.Event, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, type, resource_type, resource_id, coalesce(actor_token, ''), actor_name, actor_role,
		       data, created_at
		FROM audit_events WHERE resource_type = $1 AND resource_id = $2
		ORDER BY id LIMIT $3`, resourceType, resourceID, imprint.PageLimit(limit))
	if err != nil {
		return nil, mapError(fmt.Errorf("select events: %w", err))
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (imprint.Event, error) {
		var e imprint.Event
		var role string
		err := row.Scan(&e.ID, &e.Type, &e.ResourceType, &e.ResourceID, &e.Actor.TokenID, &e.Actor.Name,
			&role, &e.Data, &e.CreatedAt)
		e.Actor.Role = imprint.Role(role)
		return e, err
	})
}

const eventColumns = `id, type, resource_type, resource_id, coalesce(actor_token, ''), actor_name, actor_role,
	data, created_at`

func scanEvent(row pgx.Row) (imprint.Event, error) {
	var e imprint.Event
	var role string
	err := row.Scan(&e.ID, &e.Type, &e.ResourceType, &e.ResourceID, &e.Actor.TokenID, &e.Actor.Name,
		&role, &e.Data, &e.CreatedAt)
	e.Actor.Role = imprint.Role(role)
	return e, err
}

// Events returns audit events matching f in the order they became final
// (transaction, then ID), and the cursor of the next page (zero on the last
// page). Events of transactions still running are left for a later page, so
// paging from a cursor never skips one.
func (db *DB) Events(ctx context.Context, f imprint.EventFilter) ([]imprint.Event, imprint.EventCursor, error) {
	where := []string{`txid < pg_snapshot_xmin(pg_current_snapshot())`,
		`(txid, id) > ($1::text::xid8, $2)`}
	args := []any{strconv.FormatUint(f.Cursor.TxID, 10), f.Cursor.ID}
	add := func(clause string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(clause, len(args)))
	}
	if f.Type != "" {
		add("type = $%d", f.Type)
	}
	if f.ResourceType != "" {
		add("resource_type = $%d", f.ResourceType)
	}
	if f.ResourceID != "" {
		add("resource_id = $%d", f.ResourceID)
	}
	if !f.After.IsZero() {
		add("created_at > $%d", f.After)
	}
	if !f.Before.IsZero() {
		add("created_at < $%d", f.Before)
	}
	limit := imprint.PageLimit(f.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+`, txid::text::bigint FROM audit_events WHERE `+
		strings.Join(where, ` AND `)+fmt.Sprintf(` ORDER BY txid, id LIMIT %d`, limit+1), args...)
	if err != nil {
		return nil, imprint.EventCursor{}, mapError(fmt.Errorf("list events: %w", err))
	}
	events, cursors, err := scanEventRows(rows)
	if err != nil {
		return nil, imprint.EventCursor{}, err
	}
	var next imprint.EventCursor
	if len(events) > limit {
		events = events[:limit]
		next = cursors[limit-1]
	}
	return events, next, nil
}

// scanEventRows reads rows of eventColumns and the transaction ID.
func scanEventRows(rows pgx.Rows) ([]imprint.Event, []imprint.EventCursor, error) {
	defer rows.Close()
	var (
		events  []imprint.Event
		cursors []imprint.EventCursor
	)
	for rows.Next() {
		var e imprint.Event
		var role string
		var txid int64
		if err := rows.Scan(&e.ID, &e.Type, &e.ResourceType, &e.ResourceID, &e.Actor.TokenID, &e.Actor.Name,
			&role, &e.Data, &e.CreatedAt, &txid); err != nil {
			return nil, nil, mapError(err)
		}
		e.Actor.Role = imprint.Role(role)
		events = append(events, e)
		cursors = append(cursors, imprint.EventCursor{TxID: uint64(txid), ID: e.ID})
	}
	return events, cursors, mapError(rows.Err())
}

// EventsSince returns up to limit events after cur that no running
// transaction can still precede, and the cursor after the last.
func (db *DB) EventsSince(ctx context.Context, cur imprint.EventCursor, types []string, limit int) ([]imprint.Event, imprint.EventCursor, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+`, txid::text::bigint FROM audit_events
		WHERE (txid, id) > ($1::text::xid8, $2)
		  AND txid < pg_snapshot_xmin(pg_current_snapshot())
		  AND ($3::text[] IS NULL OR type = ANY($3))
		ORDER BY txid, id LIMIT $4`, strconv.FormatUint(cur.TxID, 10), cur.ID, types, limit)
	if err != nil {
		return nil, cur, mapError(fmt.Errorf("read events: %w", err))
	}
	events, cursors, err := scanEventRows(rows)
	if err != nil || len(events) == 0 {
		return events, cur, err
	}
	return events, cursors[len(cursors)-1], nil
}

// EventsHead returns the cursor after every event that is final now: where a
// new reader of the outbox starts.
func (db *DB) EventsHead(ctx context.Context) (imprint.EventCursor, error) {
	var cur imprint.EventCursor
	var txid, id int64
	err := db.pool.QueryRow(ctx, `SELECT coalesce(max(txid)::text::bigint, 0), coalesce(max(id), 0) FROM audit_events
		WHERE txid < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&txid, &id)
	cur.TxID, cur.ID = uint64(txid), id
	return cur, mapError(err)
}
