DROP INDEX audit_events_txid_idx;
ALTER TABLE audit_events DROP COLUMN txid;
