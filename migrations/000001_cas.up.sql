CREATE TABLE cas (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL,
    parent_id     text REFERENCES cas (id),
    status        text NOT NULL DEFAULT 'ACTIVE',
    subject       text NOT NULL,
    common_name   text NOT NULL,
    serial        text NOT NULL,
    key_algorithm text NOT NULL,
    key_uri       text NOT NULL,
    der           bytea NOT NULL,
    not_before    timestamptz NOT NULL,
    not_after     timestamptz NOT NULL,
    profile       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cas_id_hex CHECK (id ~ '^[0-9a-f]{64}$'),
    CONSTRAINT cas_name_key UNIQUE (name),
    CONSTRAINT cas_role_check CHECK (role IN ('root', 'issuing')),
    CONSTRAINT cas_status_check CHECK (status IN ('ACTIVE', 'INACTIVE')),
    CONSTRAINT cas_parent_check CHECK ((role = 'root') = (parent_id IS NULL))
);

CREATE INDEX cas_parent_id_idx ON cas (parent_id);
