//! The device store's schema, as migrations (rusqlite_migration, tracked in `user_version`).
//! Append new migrations; never edit a published one.

use rusqlite_migration::{M, Migrations};

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3)])
}

/// Number of migrations this build knows; a store with a higher `user_version` is refused.
pub(crate) const SCHEMA_VERSION: i64 = 3;

/// Fewer pages per write (each is a 4 KiB frame in the WAL).
///
/// - The outbox loses the UNIQUE index on `blob_id`. Nothing looks a blob up by its id here
///   (the relay deduplicates by it; locally the queue is read and deleted by `seq`), and the
///   ids are random, so that index put every write on a random B-tree leaf. SQLite can't
///   drop a constraint's index, so the table is rebuilt, rows and their `seq` (the push
///   order) kept.
/// - Chunks are keyed by document: `seq` is the document's rowid × 2³² plus the chunk's
///   number in the document, so a document's chunks sit together, in order, in the table's
///   own B-tree and the `chunks_doc` index (a second page per write) goes. Existing chunks
///   are renumbered in their order.
const V3: &str = r#"
CREATE TABLE outbox_v3 (
    seq        INTEGER PRIMARY KEY,
    blob_id    BLOB NOT NULL,
    space_id   TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO outbox_v3 (seq, blob_id, space_id, sealed, created_at)
    SELECT seq, blob_id, space_id, sealed, created_at FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;

-- A document's chunks: seq = doc * 2^32 + 1, 2, ... (renumbered from 1 after compaction).
-- No index on `doc`: documents are never deleted, and reads and compaction use seq ranges.
CREATE TABLE chunks_v3 (
    seq  INTEGER PRIMARY KEY,
    doc  INTEGER NOT NULL REFERENCES docs(rowid),
    data BLOB NOT NULL,
    CHECK (seq >> 32 = doc)
);
INSERT INTO chunks_v3 (seq, doc, data)
    SELECT (doc << 32) + row_number() OVER (PARTITION BY doc ORDER BY seq), doc, data
    FROM chunks ORDER BY doc, seq;
DROP TABLE chunks;
ALTER TABLE chunks_v3 RENAME TO chunks;
"#;

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
    #![allow(clippy::unwrap_used)]

    use rusqlite::{Connection, params};

    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }

    /// A V2 store's outbox and chunks come through V3 whole, in order, renumbered.
    #[test]
    fn v3_keeps_the_outbox_and_the_chunks() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        Migrations::new(vec![M::up(V1), M::up(V2)])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO spaces (id, kind, title, created_at) VALUES ('s', 'journal', 'Us', 0);
             INSERT INTO docs (rowid, doc_id, space_id, kind) VALUES (3, 'a', 's', 'entry');
             INSERT INTO docs (rowid, doc_id, space_id, kind) VALUES (7, 'b', 's', 'entry');",
        )
        .unwrap();
        // Chunks of two documents, interleaved as writes make them.
        for (seq, doc, data) in [
            (1, 3, "a1"),
            (2, 7, "b1"),
            (5, 3, "a2"),
            (9, 7, "b2"),
            (10, 3, "a3"),
        ] {
            conn.execute(
                "INSERT INTO chunks (seq, doc, data) VALUES (?1, ?2, ?3)",
                params![seq, doc, data.as_bytes()],
            )
            .unwrap();
        }
        for (seq, id) in [(4, 40u8), (6, 60), (8, 80)] {
            conn.execute(
                "INSERT INTO outbox (seq, blob_id, space_id, sealed, created_at)
                 VALUES (?1, ?2, 's', ?3, 1)",
                params![seq, vec![id; 16], vec![id; 3]],
            )
            .unwrap();
        }
        migrations().to_latest(&mut conn).unwrap();

        let chunks: Vec<(i64, i64, Vec<u8>)> = conn
            .prepare("SELECT seq, doc, data FROM chunks ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let want = |doc: i64, n: i64, d: &str| (doc << 32 | n, doc, d.as_bytes().to_vec());
        assert_eq!(
            chunks,
            vec![
                want(3, 1, "a1"),
                want(3, 2, "a2"),
                want(3, 3, "a3"),
                want(7, 1, "b1"),
                want(7, 2, "b2"),
            ]
        );
        let outbox: Vec<(i64, Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT seq, blob_id, sealed FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            outbox,
            vec![
                (4, vec![40; 16], vec![40; 3]),
                (6, vec![60; 16], vec![60; 3]),
                (8, vec![80; 16], vec![80; 3]),
            ]
        );
        // The blob id index is gone; a chunk can't be filed under another document.
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('outbox', 'chunks')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 0);
        assert!(
            conn.execute(
                "INSERT INTO chunks (seq, doc, data) VALUES (?1, 3, x'00')",
                [7i64 << 32 | 9],
            )
            .is_err()
        );
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
