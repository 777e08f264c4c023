-- Attachments (issue 11, ADR 14); the same step as SQLite's: each space's objects (sealed
-- bytes addressed by their BLAKE3 hash, stored in an object store, never here), the
-- opaque references that keep them, and the uploads under way.

CREATE TABLE attachment_objects (
    space       UUID NOT NULL REFERENCES spaces(id),
    hash        BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    size        BIGINT NOT NULL CHECK (size > 0),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (space, hash)
);

-- One row per reference; the object goes with its last one.
CREATE TABLE attachment_refs (
    space       UUID NOT NULL,
    hash        BYTEA NOT NULL,
    ref         BYTEA NOT NULL CHECK (octet_length(ref) = 16),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (space, hash, ref),
    FOREIGN KEY (space, hash) REFERENCES attachment_objects(space, hash) ON DELETE CASCADE
);

-- Uploads under way (the bytes so far are on the receiving node's disk).
CREATE TABLE attachment_uploads (
    space       UUID NOT NULL REFERENCES spaces(id),
    hash        BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    size        BIGINT NOT NULL CHECK (size > 0),
    device      UUID NOT NULL,
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (space, hash)
);
CREATE INDEX attachment_uploads_started ON attachment_uploads(started_at);
