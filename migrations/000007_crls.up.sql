-- Signed CRLs, full and delta, per CA (RFC 5280 5.2.3: one number sequence
-- shared by both). A full and a delta CRL published together have the same
-- number. Only the latest few of each are kept.
CREATE TABLE crls (
    ca_id        text NOT NULL REFERENCES cas (id),
    number       bigint NOT NULL,
    delta        boolean NOT NULL,
    base_number  bigint,
    this_update  timestamptz NOT NULL,
    next_update  timestamptz NOT NULL,
    entries      integer NOT NULL,
    der          bytea NOT NULL,
    -- the start of the transaction that read the certificates: every
    -- change committed before it is on this CRL
    built_at     timestamptz NOT NULL,
    CONSTRAINT crls_pkey PRIMARY KEY (ca_id, delta, number),
    CONSTRAINT crls_delta_base_check CHECK (delta = (base_number IS NOT NULL))
);

-- A CA whose CRL is out of date: every transaction that changes a
-- certificate's standing upserts its row, and the replica that publishes
-- deletes it in the snapshot it builds from. A change committed after that
-- snapshot either leaves its row or makes the delete fail to serialize, so
-- no change is ever left off the next CRL.
CREATE TABLE crl_dirty (
    ca_id  text PRIMARY KEY REFERENCES cas (id),
    since  timestamptz NOT NULL DEFAULT now()
);
