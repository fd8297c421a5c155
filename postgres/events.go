package postgres

import (
	"context"
	"encoding/json"
	"fmt"

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
