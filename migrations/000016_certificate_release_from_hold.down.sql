DROP INDEX certificates_released_idx;
ALTER TABLE certificates DROP COLUMN released_from_hold_at;
