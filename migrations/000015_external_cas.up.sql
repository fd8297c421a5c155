-- CAs whose key is not Imprint's: a customer's CA registered to sign device
-- certificates that Imprint recognises (role external, no key URI), and the
-- per-CA switch for provisioning devices on their first connection.
ALTER TABLE cas ALTER COLUMN key_uri DROP NOT NULL;
ALTER TABLE cas DROP CONSTRAINT cas_role_check;
ALTER TABLE cas ADD CONSTRAINT cas_role_check CHECK (role IN ('root', 'issuing', 'external'));
ALTER TABLE cas DROP CONSTRAINT cas_parent_check;
ALTER TABLE cas ADD CONSTRAINT cas_parent_check CHECK ((role = 'issuing') = (parent_id IS NOT NULL));
ALTER TABLE cas ADD CONSTRAINT cas_key_uri_check CHECK ((role = 'external') = (key_uri IS NULL));
ALTER TABLE cas ADD COLUMN auto_registration boolean NOT NULL DEFAULT false;
