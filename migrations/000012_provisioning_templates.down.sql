ALTER TABLE cas DROP COLUMN provisioning_template;
DROP TABLE provisioning_template_versions;
DROP TABLE provisioning_templates;
