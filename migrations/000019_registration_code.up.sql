-- The installation's registration code: the subject common name a
-- verification certificate must carry to prove that whoever registers a
-- customer CA holds its key. At most one row; it stays until deleted.
CREATE TABLE registration_codes (
    singleton  boolean PRIMARY KEY DEFAULT true,
    code       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT registration_codes_singleton_check CHECK (singleton),
    CONSTRAINT registration_codes_code_hex CHECK (code ~ '^[0-9a-f]{64}$')
);
