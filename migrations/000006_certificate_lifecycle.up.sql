-- Who changed a certificate's status, and when: revocations, suspensions
-- (INACTIVE, shown on CRLs and in OCSP as certificateHold) and renewals.
ALTER TABLE certificates
    ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN revoked_by        text,
    ADD COLUMN renewed_from      text REFERENCES certificates (id),
    ADD COLUMN superseded_by     text REFERENCES certificates (id),
    -- a superseded certificate is revoked at this time (the renewal's grace)
    ADD COLUMN revoke_after      timestamptz,
    ADD CONSTRAINT certificates_revocation_check
        CHECK ((status = 'REVOKED') = (revoked_at IS NOT NULL AND revocation_reason IS NOT NULL));

-- CRL building and the status lookups of OCSP read only these rows.
CREATE INDEX certificates_listed_idx ON certificates (ca_id, status_changed_at)
    INCLUDE (serial, status, revoked_at, revocation_reason, not_after)
    WHERE status IN ('REVOKED', 'INACTIVE');
CREATE INDEX certificates_changed_idx ON certificates (ca_id, status_changed_at);
CREATE INDEX certificates_revoke_after_idx ON certificates (revoke_after)
    WHERE revoke_after IS NOT NULL AND status <> 'REVOKED';

ALTER TABLE cas ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();
