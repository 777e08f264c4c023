-- Recovery kits (issue 12); the same step as SQLite's. One per person: the relay keeps the
-- auth secret's SHA-256, the sealed envelope (opaque) and the spaces a recovered device
-- may be admitted to — never the words, the secret or anything inside the envelope. A kit
-- goes when the device that made it (`made_by`) is revoked: whoever holds that device may
-- hold the words too.
CREATE TABLE recovery_kits (
    lookup      BYTEA PRIMARY KEY CHECK (octet_length(lookup) = 16),
    person      UUID NOT NULL UNIQUE,
    auth_hash   BYTEA NOT NULL CHECK (octet_length(auth_hash) = 32),
    envelope    BYTEA NOT NULL CHECK (octet_length(envelope) BETWEEN 1 AND 65536),
    made_by     UUID NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- What a revocation deletes.
CREATE INDEX recovery_kits_made_by ON recovery_kits(made_by);
-- Sealed bytes don't compress: keep TOAST from trying.
ALTER TABLE recovery_kits ALTER COLUMN envelope SET STORAGE EXTERNAL;

-- The spaces a person's kit lists, keyed by the person (a new kit of theirs replaces the
-- list with its own). A space leaves the list when its person leaves the space.
CREATE TABLE recovery_kit_spaces (
    person  UUID NOT NULL REFERENCES recovery_kits(person) ON DELETE CASCADE,
    space   UUID NOT NULL,
    PRIMARY KEY (person, space)
);
