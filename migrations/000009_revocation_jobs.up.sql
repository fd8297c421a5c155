-- Bulk revocations, done in bounded transactions. A job records what it
-- selects and how far it got, so that it reports progress and any replica can
-- resume it after a crash.
CREATE TABLE revocation_jobs (
    id             text PRIMARY KEY,
    ca_id          text REFERENCES cas (id),
    certificate_ids text[],
    serials        text[],
    issued_after   timestamptz,
    issued_before  timestamptz,
    reason         smallint NOT NULL,
    status         text NOT NULL DEFAULT 'RUNNING',
    matched        bigint NOT NULL DEFAULT 0,
    revoked        bigint NOT NULL DEFAULT 0,
    already_revoked bigint NOT NULL DEFAULT 0,
    not_found      bigint NOT NULL DEFAULT 0,
    actor_token    text,
    actor_name     text NOT NULL,
    actor_role     text NOT NULL,
    error          text,
    -- keyset position: the job has dealt with every certificate up to here
    cursor_created timestamptz,
    cursor_id      text,
    -- the replica working on the job, and when it last said so (a lease)
    owner          text,
    heartbeat      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    CONSTRAINT revocation_jobs_status_check CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED'))
);

CREATE INDEX revocation_jobs_running_idx ON revocation_jobs (created_at) WHERE status = 'RUNNING';
