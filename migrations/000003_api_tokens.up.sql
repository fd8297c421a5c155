CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL,
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    CONSTRAINT api_tokens_name_key UNIQUE (name),
    CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'factory', 'auditor')),
    CONSTRAINT api_tokens_hash_length CHECK (length(hash) = 32)
);
