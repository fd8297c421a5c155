-- Delegated OCSP responder certificates (RFC 6960 4.2.2.2), made and rotated
-- by Imprint for each issuing CA. Their keys are files like the CA keys.
CREATE TABLE ocsp_signers (
    id          text PRIMARY KEY,
    ca_id       text NOT NULL REFERENCES cas (id),
    der         bytea NOT NULL,
    key_uri     text NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ocsp_signers_ca_idx ON ocsp_signers (ca_id, not_after DESC);
