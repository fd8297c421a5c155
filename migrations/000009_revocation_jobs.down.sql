DROP TABLE revocation_jobs;
