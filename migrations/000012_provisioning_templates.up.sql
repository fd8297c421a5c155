-- Provisioning templates (AWS IoT compatible bodies), with versions. The
-- type is fixed at creation; one version is the default.
CREATE TABLE provisioning_templates (
    name            text PRIMARY KEY,
    description     text NOT NULL DEFAULT '',
    type            text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    hook_url        text,
    hook_secret     text,            -- sealed, like webhook secrets
    hook_timeout_ms integer,
    default_version integer NOT NULL DEFAULT 1,
    next_version    integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provisioning_templates_name_check CHECK (name ~ '^[0-9A-Za-z_-]{1,36}$'),
    CONSTRAINT provisioning_templates_type_check CHECK (type IN ('JITP', 'FLEET_PROVISIONING')),
    CONSTRAINT provisioning_templates_hook_check CHECK ((hook_url IS NULL) = (hook_secret IS NULL))
);

CREATE TABLE provisioning_template_versions (
    template_name text NOT NULL REFERENCES provisioning_templates (name) ON DELETE CASCADE,
    version_id    integer NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provisioning_template_versions_pkey PRIMARY KEY (template_name, version_id)
);

-- The JITP template a CA provisions its devices with on first connection.
ALTER TABLE cas ADD COLUMN provisioning_template text
    CONSTRAINT cas_provisioning_template_fkey REFERENCES provisioning_templates (name);
CREATE INDEX cas_provisioning_template_idx ON cas (provisioning_template);
