-- When a certificate was last released from hold (INACTIVE to ACTIVE): a
-- delta CRL lists an ACTIVE certificate, as removeFromCRL, only if this is
-- after its base CRL (RFC 5280 5.2.4, 5.3.1), never one that was merely
-- issued or activated.
ALTER TABLE certificates ADD COLUMN released_from_hold_at timestamptz;

-- Releases before this column existed, from the audit log.
UPDATE certificates c SET released_from_hold_at = e.at
FROM (SELECT resource_id, max(created_at) AS at FROM audit_events
      WHERE type = 'certificate.activated' AND resource_type = 'certificate' AND data->>'from' = 'INACTIVE'
      GROUP BY resource_id) e
WHERE c.id = e.resource_id;

-- The delta CRL's releases, without reading the certificates never held.
CREATE INDEX certificates_released_idx ON certificates (ca_id, released_from_hold_at)
    INCLUDE (serial, status)
    WHERE released_from_hold_at IS NOT NULL;
