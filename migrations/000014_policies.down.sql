DROP TABLE policy_attachments;
DROP TABLE policy_versions;
DROP TABLE policies;
