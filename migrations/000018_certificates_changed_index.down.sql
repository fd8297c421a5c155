CREATE INDEX certificates_changed_idx ON certificates (ca_id, status_changed_at);
