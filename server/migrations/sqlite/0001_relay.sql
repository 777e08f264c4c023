-- duet-relay on SQLite: ids, sizes, times and sealed bytes; never content. Times are
-- Unix milliseconds. Applied in order by rusqlite_migration (tracked in user_version);
-- never edit a published file, add the next one.

CREATE TABLE devices (
    id          BLOB PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) WITHOUT ROWID;

CREATE TABLE spaces (
    id          BLOB PRIMARY KEY,
    head        INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    pruned_seq  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE members (
    space     BLOB NOT NULL REFERENCES spaces(id),
    device    BLOB NOT NULL REFERENCES devices(id),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (space, device)
) WITHOUT ROWID;
CREATE INDEX members_device ON members(device, space);

CREATE TABLE invites (
    id           BLOB PRIMARY KEY,
    space        BLOB NOT NULL REFERENCES spaces(id),
    created_by   BLOB NOT NULL,
    token_hash   BLOB NOT NULL,
    wrapped_key  BLOB NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    used_by      BLOB,
    used_at      INTEGER
) WITHOUT ROWID;

-- The sealed-blob log. Rows are large (up to a few MB), so this is a rowid table.
CREATE TABLE blobs (
    space       BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    blob_id     BLOB NOT NULL,
    device      BLOB NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (space, seq),
    UNIQUE (space, blob_id)
);

CREATE TABLE snapshots (
    space       BLOB PRIMARY KEY,
    seq         INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
