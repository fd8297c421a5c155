-- Webhooks are fed from the audit log, which is the outbox: every event is
-- written in the transaction of its change, and a webhook's cursor says which
-- events it has taken. Deliveries are retried with backoff and their outcome
-- recorded.
CREATE TABLE webhooks (
    id            text PRIMARY KEY,
    url           text NOT NULL,
    event_types   text[] NOT NULL,
    secret        text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    -- the outbox cursor: the last (transaction, event) taken
    last_txid     xid8 NOT NULL,
    last_event_id bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id    text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id      bigint NOT NULL REFERENCES audit_events (id),
    status        text NOT NULL DEFAULT 'PENDING',
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt  timestamptz NOT NULL DEFAULT now(),
    last_status   integer,
    last_error    text,
    delivered_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED'))
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt) WHERE status = 'PENDING';
