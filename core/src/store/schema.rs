//! The device store's schema, as migrations (rusqlite_migration, tracked in `user_version`).
//! Append new migrations; never edit a published one.

use rusqlite_migration::{HookResult, M, Migrations};

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up_with_hook(V4, v4_epochs),
        M::up(V5),
        M::up(V6),
        M::up(V7),
        M::up(V8),
        M::up(V9),
    ])
}

/// Number of migrations this build knows; a store with a higher `user_version` is refused.
pub(crate) const SCHEMA_VERSION: i64 = 9;

/// Journal snapshots (ADR 16).
///
/// - `docs_unloaded`: documents installed from a snapshot, listed and searchable through the
///   index rows it carried, whose Automerge document no one has loaded yet; loading one
///   rebuilds its index rows from the document itself and takes it off this list.
/// - `sync_spaces.snapshot_seq`: the newest snapshot of the space this device uploaded or
///   installed (the log position it covers), so that it uploads a new one only once the
///   log has grown well past it.
const V9: &str = r#"
CREATE TABLE docs_unloaded (
    rowid INTEGER PRIMARY KEY REFERENCES docs(rowid)
);
ALTER TABLE sync_spaces ADD COLUMN snapshot_seq INTEGER NOT NULL DEFAULT 0;
"#;

/// Attachments (ADR 15).
///
/// - `attachments`: every attachment the entries' documents refer to, rewritten with the
///   entry's index row (so an id finds its entry, and a hash its users).
/// - `attachment_files`: sealed files this device holds in `HOME/attachments/` — originals
///   (evicted least recently used first, past the cache's budget) and thumbnails (kept).
/// - `attachment_uploads`: objects the relay still has to get (or be told to reference),
///   by space, hash and reference; an original waiting here is never evicted.
/// - `attachment_releases`: references to release at the relay (a removed attachment).
const V8: &str = r#"
CREATE TABLE attachments (
    id          BLOB PRIMARY KEY,
    doc         INTEGER NOT NULL REFERENCES docs(rowid),
    hash        BLOB NOT NULL,
    thumb_hash  BLOB
);
CREATE INDEX attachments_doc ON attachments(doc);
CREATE INDEX attachments_hash ON attachments(hash);
CREATE INDEX attachments_thumb ON attachments(thumb_hash);

CREATE TABLE attachment_files (
    hash     BLOB PRIMARY KEY,
    size     INTEGER NOT NULL,
    thumb    INTEGER NOT NULL,
    used_at  INTEGER NOT NULL
);
CREATE INDEX attachment_files_lru ON attachment_files(thumb, used_at);

CREATE TABLE attachment_uploads (
    space_id   TEXT NOT NULL,
    hash       BLOB NOT NULL,
    ref        BLOB NOT NULL,
    size       INTEGER NOT NULL,
    attachment BLOB NOT NULL,
    queued_at  INTEGER NOT NULL,
    PRIMARY KEY (space_id, hash, ref)
) WITHOUT ROWID;

CREATE TABLE attachment_releases (
    space_id TEXT NOT NULL,
    hash     BLOB NOT NULL,
    ref      BLOB NOT NULL,
    PRIMARY KEY (space_id, hash, ref)
) WITHOUT ROWID;
"#;

/// Recovery kits (`kit.rs`): the words, on the device that showed them (so it can show
/// them again), the lookup id they make, and what this device last gave the relay as the
/// kit's envelope (a hash of the lookup id and the envelope's plaintext), so an unchanged
/// key ring isn't sent again at every sync.
const V7: &str = r#"
CREATE TABLE recovery (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    words  TEXT,
    lookup BLOB,
    sent   BLOB
);
"#;

/// Key drops (`keydrop.rs`): this device's X25519 exchange secret (made at first use) and
/// the rotations whose new key still has to be dropped for my other devices and my
/// partner's (kept until the relay took them, so a crash or a lost connection between the
/// rotation and the drops only delays them).
const V6: &str = r#"
ALTER TABLE identity ADD COLUMN exchange_secret BLOB;

CREATE TABLE pending_drops (
    space_id TEXT NOT NULL,
    epoch    INTEGER NOT NULL,
    PRIMARY KEY (space_id, epoch)
) WITHOUT ROWID;
"#;

/// Sealed prompt answers (ADR 11).
///
/// - `answer_keys`: the key `K` of each sealed answer this device can read; `own` when it
///   wrote the answer (only that device writes the text into the document once revealed, so
///   two devices never insert it twice).
/// - `answer_shares`: my person's relay share `K2` of a round of a space, made by the first
///   answer written here in that round and reused by the next; `registered` once the relay
///   holds it (or another device's share of mine, which then replaces it here).
/// - `entries.answer_state`: 0 an ordinary entry (or a revealed answer), 1 an answer sealed
///   on this device (no key: title and excerpt empty), 2 an unrevealed answer this device
///   reads; `answer_round` is its round. Derived like the rest of the index.
const V5: &str = r#"
CREATE TABLE answer_keys (
    entry_id TEXT PRIMARY KEY,
    key      BLOB NOT NULL,
    own      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE answer_shares (
    space_id   TEXT NOT NULL,
    round      TEXT NOT NULL,
    share      BLOB NOT NULL,
    registered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, round)
) WITHOUT ROWID;

ALTER TABLE entries ADD COLUMN answer_state INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN answer_round TEXT;
CREATE INDEX entries_answers ON entries(answer_state) WHERE answer_state > 0;
"#;

/// Seal at push time, refuse stale epochs, keep relay identities.
///
/// - The outbox holds what a write produced in the clear (`doc`, `kind`, `data`: the parts
///   of a blob's payload) and is sealed when pushed, under the space's key epoch of that
///   moment: a write queued before a rotation is never sent under the old key. Sealing
///   picks a random nonce, and the relay refuses a known blob id with other bytes, so a row
///   sealed for a push keeps its `blob_id`, `epoch` and `sealed` bytes (its clear parts are
///   dropped then) and a retry resends exactly them; only a row whose epoch is behind the
///   space's is sealed again, under a new id. Rows queued before V4 are sealed already:
///   they are kept as such (`v4_epochs` reads their epochs from their headers).
/// - `sync_spaces.max_epoch`: the newest key epoch seen in the space's pulled log; a blob
///   sealed under an older one after that is quarantined.
/// - `relay.issued_for`: the URL the credentials were issued at, so a changed URL is checked
///   (same relay under another name, or a new one) before the credentials are used there;
///   `relay_identities` keeps the credentials of every relay this home registered at, so
///   going back to one restores its identity.
const V4: &str = r#"
CREATE TABLE outbox_v4 (
    seq        INTEGER PRIMARY KEY,
    space_id   TEXT NOT NULL,
    doc        BLOB,
    kind       TEXT CHECK (kind IN ('meta', 'entry')),
    data       BLOB,
    blob_id    BLOB,
    epoch      INTEGER,
    sealed     BLOB,
    created_at INTEGER NOT NULL,
    CHECK (data IS NOT NULL OR sealed IS NOT NULL)
);
INSERT INTO outbox_v4 (seq, space_id, blob_id, sealed, created_at)
    SELECT seq, space_id, blob_id, sealed, created_at FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;

ALTER TABLE sync_spaces ADD COLUMN max_epoch INTEGER NOT NULL DEFAULT 0;

ALTER TABLE relay ADD COLUMN issued_for TEXT;
UPDATE relay SET issued_for = url WHERE token IS NOT NULL;

CREATE TABLE relay_identities (
    url       TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    token     TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO relay_identities (url, device_id, token)
    SELECT url, device_id, token FROM relay WHERE device_id IS NOT NULL AND token IS NOT NULL;
"#;

/// The epoch of each row V4 kept sealed, from the blob's clear header (a row whose header
/// can't be read keeps a NULL epoch and is sent as it is).
fn v4_epochs(tx: &rusqlite::Transaction) -> HookResult {
    let rows: Vec<(i64, Vec<u8>)> = tx
        .prepare("SELECT seq, sealed FROM outbox WHERE sealed IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut set = tx.prepare("UPDATE outbox SET epoch = ?2 WHERE seq = ?1")?;
    for (seq, sealed) in rows {
        if let Some(e) = duet_proto::sealed::epoch_of(&sealed) {
            set.execute(rusqlite::params![seq, e])?;
        }
    }
    Ok(())
}

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

    /// Every row of `sql`, each as a tuple of its columns.
    fn all_rows<T>(conn: &Connection, sql: &str) -> Vec<T>
    where
        T: for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
    {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| T::try_from(r))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

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

        let chunks: Vec<(i64, i64, Vec<u8>)> =
            all_rows(&conn, "SELECT seq, doc, data FROM chunks ORDER BY seq");
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
        let outbox: Vec<(i64, Vec<u8>, Vec<u8>)> = all_rows(
            &conn,
            "SELECT seq, blob_id, sealed FROM outbox ORDER BY seq",
        );
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

    /// A V4 store's index comes through V5 with every entry an ordinary one (no answer
    /// state), and the answer tables start empty.
    #[test]
    fn v5_keeps_the_index_and_adds_the_answer_tables() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4)])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO spaces (id, kind, title, created_at) VALUES ('s', 'journal', 'Us', 0);
             INSERT INTO docs (rowid, doc_id, space_id, kind) VALUES (3, 'e', 's', 'entry');
             INSERT INTO entries (rowid, id, space_id, author, kind, created_at, updated_at,
                                  title, excerpt)
                 VALUES (3, 'e', 's', 'm', 'prompt_answer', 1, 2, 't', 'x');",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let rows: Vec<(String, i64, Option<String>)> =
            all_rows(&conn, "SELECT id, answer_state, answer_round FROM entries");
        assert_eq!(rows, vec![("e".to_string(), 0, None)]);
        for table in ["answer_keys", "answer_shares"] {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }

    /// A V3 store's outbox comes through V4 whole and in order: its rows stay sealed, their
    /// epochs read from the blobs' headers; the credentials are marked as issued at the
    /// relay's URL and archived; no space has a newest epoch yet.
    #[test]
    fn v4_keeps_queued_sealed_rows_and_the_credentials() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3)])
            .to_latest(&mut conn)
            .unwrap();
        let sealed = |epoch: u32, fill: u8| {
            let mut b = vec![fill; duet_proto::sealed::MIN_SEALED_LEN + 8];
            b[0] = duet_proto::sealed::SEAL_VERSION;
            b[1..5].copy_from_slice(&epoch.to_be_bytes());
            b
        };
        for (seq, epoch, id) in [(4, 1u32, 40u8), (6, 2, 60), (9, 1, 90)] {
            conn.execute(
                "INSERT INTO outbox (seq, blob_id, space_id, sealed, created_at)
                 VALUES (?1, ?2, 's', ?3, 1)",
                params![seq, vec![id; 16], sealed(epoch, id)],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO relay (id, url, device_id, token)
                 VALUES (1, 'http://relay.example/', '00000000-0000-0000-0000-000000000007', 't');
             INSERT INTO sync_spaces (space_id, cursor, on_relay) VALUES ('s', 12, 1);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();

        type Row = (i64, Vec<u8>, Option<u32>, Vec<u8>, Option<Vec<u8>>);
        let rows: Vec<Row> = all_rows(
            &conn,
            "SELECT seq, blob_id, epoch, sealed, data FROM outbox ORDER BY seq",
        );
        assert_eq!(
            rows,
            vec![
                (4, vec![40; 16], Some(1), sealed(1, 40), None),
                (6, vec![60; 16], Some(2), sealed(2, 60), None),
                (9, vec![90; 16], Some(1), sealed(1, 90), None),
            ]
        );
        let relay: (Option<String>, String) = conn
            .query_row("SELECT issued_for, url FROM relay", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(relay.0.as_deref(), Some(relay.1.as_str()));
        let archived: String = conn
            .query_row(
                "SELECT token FROM relay_identities WHERE url = ?1",
                [&relay.1],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(archived, "t");
        let (cursor, max_epoch): (i64, i64) = conn
            .query_row("SELECT cursor, max_epoch FROM sync_spaces", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((cursor, max_epoch), (12, 0));
        // A row holds its change in the clear or sealed, never neither.
        assert!(
            conn.execute(
                "INSERT INTO outbox (space_id, created_at) VALUES ('s', 1)",
                []
            )
            .is_err()
        );
    }
}
