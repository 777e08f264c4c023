-- duet-relay on PostgreSQL: the same tables as the SQLite backend (ids, sizes, times and
-- sealed bytes; never content). Times are Unix milliseconds.

CREATE TABLE devices (
    id          UUID PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- `head` is the last sequence number given out. A push locks its space's row
-- (SELECT ... FOR UPDATE) from numbering to commit, so numbers are gap-free, and a blob
-- never becomes visible before one with a lower number.
CREATE TABLE spaces (
    id          UUID PRIMARY KEY,
    head        BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0,
    pruned_seq  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

CREATE TABLE members (
    space     UUID NOT NULL REFERENCES spaces(id),
    device    UUID NOT NULL REFERENCES devices(id),
    added_at  BIGINT NOT NULL,
    PRIMARY KEY (space, device)
);
CREATE INDEX members_device ON members(device, space);

CREATE TABLE invites (
    id           UUID PRIMARY KEY,
    space        UUID NOT NULL REFERENCES spaces(id),
    created_by   UUID NOT NULL,
    token_hash   BYTEA NOT NULL,
    wrapped_key  BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    used_by      UUID,
    used_at      BIGINT
);

CREATE TABLE blobs (
    space       UUID NOT NULL,
    seq         BIGINT NOT NULL,
    blob_id     BYTEA NOT NULL,
    device      UUID NOT NULL,
    data        BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (space, seq),
    UNIQUE (space, blob_id)
);

CREATE TABLE snapshots (
    space       UUID PRIMARY KEY,
    seq         BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Sealed bytes don't compress: keep TOAST from trying.
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE snapshots ALTER COLUMN data SET STORAGE EXTERNAL;
