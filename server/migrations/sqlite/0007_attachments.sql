-- Attachments (issue 11, ADR 14): the relay's metadata of each space's objects — sealed
-- bytes addressed by their BLAKE3 hash, stored in an object store (never here) — the
-- opaque references that keep them, and the uploads under way. No names, types or keys.

-- A space's stored objects. `size` is the sealed size (padded by the client).
CREATE TABLE attachment_objects (
    space       BLOB NOT NULL REFERENCES spaces(id),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    size        INTEGER NOT NULL CHECK (size > 0),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (space, hash)
) WITHOUT ROWID;

-- What keeps an object: one row per reference (16 opaque bytes a device chose); the object
-- goes with its last one.
CREATE TABLE attachment_refs (
    space       BLOB NOT NULL,
    hash        BLOB NOT NULL,
    ref         BLOB NOT NULL CHECK (length(ref) = 16),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (space, hash, ref),
    FOREIGN KEY (space, hash) REFERENCES attachment_objects(space, hash) ON DELETE CASCADE
) WITHOUT ROWID;

-- Uploads under way: the bytes so far are in a file on the receiving node's disk, whose
-- length is what has been received; the row holds the declared size (counted toward the
-- quota) and when it began (for expiry).
CREATE TABLE attachment_uploads (
    space       BLOB NOT NULL REFERENCES spaces(id),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    size        INTEGER NOT NULL CHECK (size > 0),
    device      BLOB NOT NULL,
    started_at  INTEGER NOT NULL,
    PRIMARY KEY (space, hash)
) WITHOUT ROWID;
CREATE INDEX attachment_uploads_started ON attachment_uploads(started_at);
