//! The device store's schema, as migrations (rusqlite_migration, tracked in `user_version`).
//! Append new migrations; never edit a published one.

use rusqlite_migration::{M, Migrations};

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2)])
}

/// Number of migrations this build knows; a store with a higher `user_version` is refused.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// A journal a partner removed this device from: its queued blobs stay (nothing of ours is
/// thrown away) but are no longer pushed, so they can't block the rest of the outbox.
const V2: &str = "ALTER TABLE sync_spaces ADD COLUMN removed_at INTEGER;";

const V1: &str = r#"
-- Who this device is. One row.
CREATE TABLE identity (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    member_id      TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    personal_space TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

-- Spaces this device holds (a cache of each meta document's kind and title).
CREATE TABLE spaces (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('journal', 'personal')),
    title      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- The current key epoch: new blobs are sealed with it.
    key_epoch  INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

-- Space keys by epoch, when the app does not keep them in the OS keychain.
CREATE TABLE space_keys (
    space_id TEXT NOT NULL,
    epoch    INTEGER NOT NULL,
    key      BLOB NOT NULL,
    PRIMARY KEY (space_id, epoch)
) WITHOUT ROWID;

-- One row per Automerge document: its compacted snapshot.
CREATE TABLE docs (
    rowid    INTEGER PRIMARY KEY,
    doc_id   TEXT NOT NULL UNIQUE,
    space_id TEXT NOT NULL REFERENCES spaces(id),
    kind     TEXT NOT NULL CHECK (kind IN ('meta', 'entry')),
    snapshot BLOB
);
CREATE INDEX docs_space ON docs(space_id);

-- Incremental changes since the snapshot, folded into it by compaction.
CREATE TABLE chunks (
    seq    INTEGER PRIMARY KEY,
    doc    INTEGER NOT NULL REFERENCES docs(rowid),
    data   BLOB NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc, seq);

-- Sealed blobs waiting to go to the relay.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY,
    blob_id    BLOB NOT NULL UNIQUE,
    space_id   TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- The entries index: derived from the documents, rebuildable at any time.
-- Its rowid is the document's rowid.
CREATE TABLE entries (
    rowid          INTEGER PRIMARY KEY REFERENCES docs(rowid),
    id             TEXT NOT NULL UNIQUE,
    space_id       TEXT NOT NULL,
    author         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER,
    title          TEXT NOT NULL,
    excerpt        TEXT NOT NULL,
    prompt_id      TEXT,
    mood           INTEGER,
    closeness      INTEGER,
    reaction_count INTEGER NOT NULL DEFAULT 0,
    reply_count    INTEGER NOT NULL DEFAULT 0,
    fts_dirty      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX entries_list ON entries(space_id, created_at DESC, id DESC);
CREATE INDEX entries_fts_dirty ON entries(fts_dirty) WHERE fts_dirty = 1;

CREATE TABLE entry_tags (
    tag   TEXT NOT NULL,
    entry INTEGER NOT NULL REFERENCES entries(rowid),
    PRIMARY KEY (tag, entry)
) WITHOUT ROWID;
CREATE INDEX entry_tags_entry ON entry_tags(entry);

-- The relay this device syncs with, and its credentials there.
CREATE TABLE relay (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    url        TEXT NOT NULL,
    device_id  TEXT,
    token      TEXT
);

-- Per space: how far this device has pulled, and whether the relay knows the space.
CREATE TABLE sync_spaces (
    space_id  TEXT PRIMARY KEY,
    cursor    INTEGER NOT NULL DEFAULT 0,
    on_relay  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Blobs that failed to open or apply: kept, reported, never applied, never blocking.
CREATE TABLE quarantine (
    id        INTEGER PRIMARY KEY,
    space_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    blob_id   BLOB NOT NULL,
    sealed    BLOB NOT NULL,
    error     TEXT NOT NULL,
    at        INTEGER NOT NULL,
    UNIQUE (space_id, seq)
);

-- Offline full-text search over everything people wrote in an entry.
CREATE VIRTUAL TABLE entries_fts USING fts5(
    title, body, extra,
    tokenize = 'unicode61 remove_diacritics 2'
);
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
