-- Recovery kits (issue 12): one per person. The words on paper give a lookup id (the kit's
-- name here), an auth secret and the key of a sealed envelope; the relay keeps the
-- secret's SHA-256, the envelope (opaque) and the spaces a recovered device may be
-- admitted to — never the words, the secret or anything inside the envelope. A kit goes
-- when the device that made it (`made_by`) is revoked: whoever holds that device may hold
-- the words too. A rowid table: envelopes are up to 64 KiB.
CREATE TABLE recovery_kits (
    lookup      BLOB PRIMARY KEY CHECK (length(lookup) = 16),
    person      BLOB NOT NULL UNIQUE,
    auth_hash   BLOB NOT NULL CHECK (length(auth_hash) = 32),
    envelope    BLOB NOT NULL CHECK (length(envelope) BETWEEN 1 AND 65536),
    made_by     BLOB NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- What a revocation deletes.
CREATE INDEX recovery_kits_made_by ON recovery_kits(made_by);

-- The spaces a person's kit lists, keyed by the person (a new kit of theirs replaces the
-- list with its own). A space leaves the list when its person leaves the space.
CREATE TABLE recovery_kit_spaces (
    person  BLOB NOT NULL REFERENCES recovery_kits(person) ON DELETE CASCADE,
    space   BLOB NOT NULL,
    PRIMARY KEY (person, space)
) WITHOUT ROWID;
