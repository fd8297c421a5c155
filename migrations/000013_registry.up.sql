-- The registry: things, their types and groups, and the certificates
-- (principals) attached to them.
CREATE TABLE thing_types (
    name          text PRIMARY KEY,
    description   text NOT NULL DEFAULT '',
    deprecated    boolean NOT NULL DEFAULT false,
    deprecated_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT thing_types_name_check CHECK (name ~ '^[a-zA-Z0-9:_-]{1,128}$')
);

CREATE TABLE things (
    name        text PRIMARY KEY,
    thing_type  text CONSTRAINT things_thing_type_fkey REFERENCES thing_types (name),
    attributes  jsonb NOT NULL DEFAULT '{}',
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT things_name_check CHECK (name ~ '^[a-zA-Z0-9:_-]{1,128}$')
);

CREATE INDEX things_type_idx ON things (thing_type, name);
CREATE INDEX things_attributes_idx ON things USING gin (attributes jsonb_path_ops);

CREATE TABLE thing_groups (
    name        text PRIMARY KEY,
    parent      text CONSTRAINT thing_groups_parent_fkey REFERENCES thing_groups (name),
    description text NOT NULL DEFAULT '',
    attributes  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT thing_groups_name_check CHECK (name ~ '^[a-zA-Z0-9:_-]{1,128}$')
);

CREATE INDEX thing_groups_parent_idx ON thing_groups (parent);

CREATE TABLE thing_group_members (
    group_name  text NOT NULL REFERENCES thing_groups (name) ON DELETE CASCADE,
    thing_name  text NOT NULL REFERENCES things (name) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT thing_group_members_pkey PRIMARY KEY (group_name, thing_name)
);

CREATE INDEX thing_group_members_thing_idx ON thing_group_members (thing_name);

CREATE TABLE thing_principals (
    thing_name     text NOT NULL REFERENCES things (name),
    certificate_id text NOT NULL REFERENCES certificates (id),
    exclusive      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT thing_principals_pkey PRIMARY KEY (thing_name, certificate_id)
);

CREATE INDEX thing_principals_certificate_idx ON thing_principals (certificate_id);
