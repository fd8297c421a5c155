package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// CreateWebhook records a webhook and its audit event. It receives events
// from now on.
func (db *DB) CreateWebhook(ctx context.Context, w *imprint.Webhook, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO webhooks (id, url, event_types, secret, enabled, last_txid, last_event_id)
			SELECT $1, $2, $3, $4, $5, coalesce(max(txid), '0'::xid8), coalesce(max(id), 0) FROM audit_events
			RETURNING created_at`, w.ID, w.URL, w.EventTypes, w.SealedSecret, w.Enabled).Scan(&w.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		return insertEvent(ctx, tx, imprint.EventWebhookCreated, "webhook", w.ID, actor,
			map[string]any{"url": w.URL, "eventTypes": w.EventTypes})
	})
}

const webhookColumns = `id, url, event_types, secret, enabled, created_at`

func scanWebhook(row pgx.Row) (*imprint.Webhook, error) {
	var w imprint.Webhook
	err := row.Scan(&w.ID, &w.URL, &w.EventTypes, &w.SealedSecret, &w.Enabled, &w.CreatedAt)
	return &w, err
}

// Webhook returns a webhook. Returns NotFound.
func (db *DB) Webhook(ctx context.Context, id string) (*imprint.Webhook, error) {
	w, err := scanWebhook(db.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
	if err == pgx.ErrNoRows {
		return nil, imprint.Errorf(imprint.NotFound, "webhook %s not found", id)
	}
	return w, mapError(err)
}

// Webhooks returns every webhook, oldest first.
func (db *DB) Webhooks(ctx context.Context) ([]*imprint.Webhook, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, mapError(err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.Webhook, error) { return scanWebhook(r) })
	return ws, mapError(err)
}

// DeleteWebhook deletes a webhook and its deliveries, with an audit event.
// Returns NotFound.
func (db *DB) DeleteWebhook(ctx context.Context, id string, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return imprint.Errorf(imprint.NotFound, "webhook %s not found", id)
		}
		return insertEvent(ctx, tx, imprint.EventWebhookDeleted, "webhook", id, actor, nil)
	})
}

// EnqueueDeliveries takes, for each enabled webhook, the events it subscribes
// to that came after its cursor and are final, queues a delivery of each, and
// moves the cursor past them, all in one transaction: an event is queued once,
// and none is passed over. It returns how many deliveries it queued.
func (db *DB) EnqueueDeliveries(ctx context.Context, limit int) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			WITH w AS (
				SELECT id, event_types, last_txid, last_event_id FROM webhooks WHERE enabled FOR UPDATE SKIP LOCKED
			), e AS (
				SELECT w.id AS webhook_id, ev.id AS event_id, ev.txid, ev.type, w.event_types
				FROM w CROSS JOIN LATERAL (
					SELECT id, txid, type FROM audit_events
					WHERE (txid, id) > (w.last_txid, w.last_event_id)
					  AND txid < pg_snapshot_xmin(pg_current_snapshot())
					ORDER BY txid, id LIMIT $1
				) ev
			), moved AS (
				UPDATE webhooks SET (last_txid, last_event_id) = (
					SELECT txid, event_id FROM e WHERE e.webhook_id = webhooks.id ORDER BY txid DESC, event_id DESC LIMIT 1)
				WHERE id IN (SELECT webhook_id FROM e)
			)
			INSERT INTO webhook_deliveries (webhook_id, event_id)
			SELECT webhook_id, event_id FROM e WHERE type = ANY(event_types) OR '*' = ANY(event_types)
			ON CONFLICT (webhook_id, event_id) DO NOTHING`, limit)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// ClaimDeliveries takes up to limit pending deliveries whose time has come,
// pushing their next attempt lease into the future so that no other replica
// takes them meanwhile, and returns them with their webhooks. A replica that
// dies while delivering leaves them to be retried when the lease runs out:
// deliveries are at least once.
func (db *DB) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]imprint.Delivery, error) {
	rows, err := db.pool.Query(ctx, `
		WITH due AS (
			SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.status = 'PENDING' AND d.next_attempt <= now() AND w.enabled
			ORDER BY d.next_attempt LIMIT $1 FOR UPDATE OF d SKIP LOCKED
		), claimed AS (
			UPDATE webhook_deliveries d SET next_attempt = now() + make_interval(secs => $2)
			FROM due WHERE d.id = due.id
			RETURNING d.id, d.attempts, d.webhook_id, d.event_id
		)
		SELECT c.id, c.attempts, w.id, w.url, w.event_types, w.secret, w.enabled, w.created_at,
		       e.id, e.type, e.resource_type, e.resource_id, coalesce(e.actor_token, ''), e.actor_name,
		       e.actor_role, e.data, e.created_at
		FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN audit_events e ON e.id = c.event_id`,
		limit, lease.Seconds())
	if err != nil {
		return nil, mapError(fmt.Errorf("claim deliveries: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imprint.Delivery, error) {
		d := imprint.Delivery{Status: imprint.DeliveryPending, Webhook: &imprint.Webhook{}}
		var role string
		e, w := &d.Event, d.Webhook
		err := r.Scan(&d.ID, &d.Attempts, &w.ID, &w.URL, &w.EventTypes, &w.SealedSecret, &w.Enabled, &w.CreatedAt,
			&e.ID, &e.Type, &e.ResourceType, &e.ResourceID, &e.Actor.TokenID, &e.Actor.Name, &role, &e.Data, &e.CreatedAt)
		e.Actor.Role = imprint.Role(role)
		d.WebhookID = w.ID
		return d, err
	})
	return out, mapError(err)
}

// RecordDelivery records the outcome of an attempt.
func (db *DB) RecordDelivery(ctx context.Context, id int64, out imprint.DeliveryOutcome) error {
	var status *int
	if out.HTTPStatus != 0 {
		status = &out.HTTPStatus
	}
	_, err := db.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
		next_attempt = $3, last_status = $4, last_error = $5,
		delivered_at = CASE WHEN $2 = 'DELIVERED' THEN now() END WHERE id = $1`,
		id, out.Status, out.NextAttempt, status, nullable(out.Error))
	return mapError(err)
}

// Deliveries returns a webhook's latest deliveries, newest first.
func (db *DB) Deliveries(ctx context.Context, webhookID string, limit int) ([]imprint.Delivery, error) {
	rows, err := db.pool.Query(ctx, `SELECT d.id, d.event_id, e.type, d.status, d.attempts, d.next_attempt,
		coalesce(d.last_status, 0), coalesce(d.last_error, ''), d.delivered_at
		FROM webhook_deliveries d JOIN audit_events e ON e.id = d.event_id
		WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2`, webhookID, imprint.PageLimit(limit))
	if err != nil {
		return nil, mapError(err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imprint.Delivery, error) {
		d := imprint.Delivery{WebhookID: webhookID}
		var at *time.Time
		err := r.Scan(&d.ID, &d.Event.ID, &d.Event.Type, &d.Status, &d.Attempts, &d.NextAttempt, &d.LastStatus,
			&d.LastError, &at)
		if at != nil {
			d.DeliveredAt = *at
		}
		return d, err
	})
	return ds, mapError(err)
}
