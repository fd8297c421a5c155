ALTER TABLE cas DROP COLUMN status_changed_at;
DROP INDEX certificates_revoke_after_idx;
DROP INDEX certificates_changed_idx;
DROP INDEX certificates_listed_idx;
ALTER TABLE certificates
    DROP CONSTRAINT certificates_revocation_check,
    DROP COLUMN revoke_after,
    DROP COLUMN superseded_by,
    DROP COLUMN renewed_from,
    DROP COLUMN revoked_by,
    DROP COLUMN status_changed_at;
