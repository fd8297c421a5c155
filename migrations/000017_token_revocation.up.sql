-- API tokens can be revoked (they stay, for the audit log's sake, but no
-- longer authenticate); revoked_by is the name of the token that did it.
ALTER TABLE api_tokens
    ADD COLUMN revoked_at timestamptz,
    ADD COLUMN revoked_by text,
    ADD CONSTRAINT api_tokens_revoked_check CHECK ((revoked_at IS NULL) = (revoked_by IS NULL));
