ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_revoked_check,
    DROP COLUMN revoked_by,
    DROP COLUMN revoked_at;
