-- The transaction that wrote each audit event. Readers of the log as an
-- outbox (webhooks, the event stream) take events in (txid, id) order and only
-- those of transactions older than every running one, so an event committed
-- late under a smaller ID is never skipped.
ALTER TABLE audit_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_events_txid_idx ON audit_events (txid, id);
