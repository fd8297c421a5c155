DELETE FROM cas WHERE role = 'external';
ALTER TABLE cas DROP COLUMN auto_registration;
ALTER TABLE cas DROP CONSTRAINT cas_key_uri_check;
ALTER TABLE cas DROP CONSTRAINT cas_parent_check;
ALTER TABLE cas ADD CONSTRAINT cas_parent_check CHECK ((role = 'root') = (parent_id IS NULL));
ALTER TABLE cas DROP CONSTRAINT cas_role_check;
ALTER TABLE cas ADD CONSTRAINT cas_role_check CHECK (role IN ('root', 'issuing'));
ALTER TABLE cas ALTER COLUMN key_uri SET NOT NULL;
