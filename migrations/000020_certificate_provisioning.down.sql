ALTER TABLE certificates DROP COLUMN provisioned_with, DROP COLUMN provisioned_at;
