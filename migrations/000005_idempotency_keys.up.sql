-- Responses of issuing requests sent with an Idempotency-Key header, scoped to
-- the token that sent them. The key itself is kept only as a SHA-256 hash.
CREATE TABLE idempotency_keys (
    token_id        text NOT NULL,
    key_hash        bytea NOT NULL,
    request_hash    bytea NOT NULL,
    status_code     integer,
    response        bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (token_id, key_hash)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
