-- IoT policies with versions, and what they are attached to: certificates
-- and thing groups (inherited by child groups).
CREATE TABLE policies (
    name            text PRIMARY KEY,
    default_version integer NOT NULL DEFAULT 1,
    next_version    integer NOT NULL DEFAULT 2,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policies_name_check CHECK (name ~ '^[A-Za-z0-9_+=,.@-]{1,128}$')
);

CREATE TABLE policy_versions (
    policy_name text NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
    version_id  integer NOT NULL,
    document    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policy_versions_pkey PRIMARY KEY (policy_name, version_id)
);

CREATE TABLE policy_attachments (
    policy_name text NOT NULL REFERENCES policies (name),
    target_type text NOT NULL,
    target_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policy_attachments_pkey PRIMARY KEY (policy_name, target_type, target_id),
    CONSTRAINT policy_attachments_type_check CHECK (target_type IN ('certificate', 'thinggroup'))
);

CREATE INDEX policy_attachments_target_idx ON policy_attachments (target_type, target_id);
