CREATE TABLE certificates (
    id                text PRIMARY KEY,
    serial            text NOT NULL,
    ca_id             text NOT NULL REFERENCES cas (id),
    subject           text NOT NULL,
    common_name       text NOT NULL,
    sans              text[] NOT NULL DEFAULT '{}',
    key_algorithm     text NOT NULL,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    status            text NOT NULL,
    der               bytea NOT NULL,
    revoked_at        timestamptz,
    revocation_reason smallint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT certificates_id_hex CHECK (id ~ '^[0-9a-f]{64}$'),
    CONSTRAINT certificates_ca_serial_key UNIQUE (ca_id, serial),
    CONSTRAINT certificates_status_check
        CHECK (status IN ('ACTIVE', 'INACTIVE', 'REVOKED', 'PENDING_ACTIVATION'))
);

-- Listings page by (created_at, id) in every filter combination the API offers.
CREATE INDEX certificates_created_idx ON certificates (created_at, id);
CREATE INDEX certificates_ca_created_idx ON certificates (ca_id, created_at, id);
CREATE INDEX certificates_common_name_idx ON certificates (common_name, created_at, id);
CREATE INDEX certificates_status_created_idx ON certificates (status, created_at, id)
    WHERE status <> 'ACTIVE';
