-- When a certificate was provisioned on its first connection (JITP), and
-- with which template: a later connection does not run the template again.
ALTER TABLE certificates
    ADD COLUMN provisioned_at   timestamptz,
    ADD COLUMN provisioned_with text;
