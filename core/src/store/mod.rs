//! The device store: one SQLite database (WAL) holding identity, spaces, keys, documents
//! (snapshot + incremental chunks), the outbox and the derived entries index.

pub(crate) mod answers;
pub(crate) mod attachments;
pub(crate) mod checkpoint;
pub(crate) mod index;
#[cfg(test)]
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod recovery;
pub(crate) mod relay;
pub(crate) mod schema;
pub(crate) mod snapshot;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::clock::Millis;
use crate::crypto::{Epoch, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::{MemberId, SpaceId};
use crate::model::{Identity, SpaceKind, space_kind};

/// How hard a commit works to survive power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every write is on stable storage before the call returns,
    /// surviving an app crash, an OS crash and power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: every write survives an app crash; the newest writes may be
    /// lost to power loss or an OS crash (the store stays consistent). Android's default
    /// for WAL databases; one fsync per checkpoint instead of per write.
    Normal,
}

pub(crate) fn open(path: &Path, durability: Durability) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous(durability))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > schema::SCHEMA_VERSION {
        return Err(Error::StoreTooNew {
            found,
            known: schema::SCHEMA_VERSION,
        });
    }
    schema::migrations()
        .to_latest(&mut conn)
        .map_err(|e| Error::Migration(e.to_string()))?;
    // No auto-checkpoint inside this connection's commits: see `checkpoint`.
    checkpoint::install(&conn);
    Ok(conn)
}

/// The `synchronous` setting of a durability.
pub(crate) fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    }
}

/// `PRAGMA data_version`: changes when another connection commits, so a cached document
/// can be dropped before we write on top of a stale copy.
pub(crate) fn data_version(conn: &Connection) -> Result<i64> {
    // Asked before every write: a cached statement, not a pragma parsed each time.
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

/// SQLite's own consistency check (`PRAGMA integrity_check`): `"ok"` when the store is
/// sound, otherwise what is wrong.
pub(crate) fn integrity_check(conn: &Connection) -> Result<String> {
    Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

/// Open a savepoint inside the current transaction: what follows can be undone on its own
/// ([`rollback_to`]) or kept ([`release`]).
pub(crate) fn savepoint(conn: &Connection, name: &str) -> Result<()> {
    conn.execute_batch(&format!("SAVEPOINT {name}"))?;
    Ok(())
}

/// Keep what was written since [`savepoint`] `name`.
pub(crate) fn release(conn: &Connection, name: &str) -> Result<()> {
    conn.execute_batch(&format!("RELEASE {name}"))?;
    Ok(())
}

/// Undo what was written since [`savepoint`] `name`, and close it.
pub(crate) fn rollback_to(conn: &Connection, name: &str) -> Result<()> {
    conn.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"))?;
    Ok(())
}

pub(crate) fn identity(conn: &Connection) -> Result<Option<Identity>> {
    let row = conn
        .query_row(
            "SELECT member_id, device_id, name, personal_space FROM identity WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    row.map(|(m, d, name, p)| {
        Ok(Identity {
            member: m.parse().map_err(|_| corrupt("identity"))?,
            device: d.parse().map_err(|_| corrupt("identity"))?,
            name,
            personal_space: p.parse().map_err(|_| corrupt("identity"))?,
        })
    })
    .transpose()
}

pub(crate) fn set_identity(conn: &Connection, id: &Identity, now: Millis) -> Result<()> {
    conn.execute(
        "INSERT INTO identity (id, member_id, device_id, name, personal_space, created_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)",
        params![
            id.member.to_string(),
            id.device.to_string(),
            id.name,
            id.personal_space.to_string(),
            now
        ],
    )?;
    Ok(())
}

/// Take on another member id and name (a partner-assisted restore, on a new home).
pub(crate) fn set_member(conn: &Connection, member: &MemberId, name: &str) -> Result<()> {
    conn.execute(
        "UPDATE identity SET member_id = ?1, name = ?2 WHERE id = 1",
        params![member.to_string(), name],
    )?;
    Ok(())
}

fn corrupt(what: &str) -> Error {
    Error::CorruptData(format!("malformed {what} row in the local store"))
}

/// A space as cached in the `spaces` table.
#[derive(Debug, Clone)]
pub(crate) struct SpaceRow {
    pub id: SpaceId,
    pub kind: SpaceKind,
    pub title: String,
    pub created_at: Millis,
}

pub(crate) fn upsert_space(conn: &Connection, s: &SpaceRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO spaces (id, kind, title, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET title = excluded.title",
    )?
    .execute(params![
        s.id.to_string(),
        s.kind.as_str(),
        s.title,
        s.created_at
    ])?;
    Ok(())
}

pub(crate) fn space(conn: &Connection, id: &SpaceId) -> Result<Option<SpaceRow>> {
    conn.prepare_cached("SELECT kind, title, created_at FROM spaces WHERE id = ?1")?
        .query_row([id.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .map(|(k, title, created_at)| {
            Ok(SpaceRow {
                id: *id,
                kind: space_kind(&k)?,
                title,
                created_at,
            })
        })
        .transpose()
}

pub(crate) fn spaces(conn: &Connection) -> Result<Vec<SpaceRow>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, kind, title, created_at FROM spaces ORDER BY created_at, id")?;
    collect_rows(&mut stmt, [], |r| {
        Ok(SpaceRow {
            id: r
                .get::<_, String>(0)?
                .parse()
                .map_err(|_| corrupt("space"))?,
            kind: space_kind(&r.get::<_, String>(1)?)?,
            title: r.get(2)?,
            created_at: r.get(3)?,
        })
    })
}

/// Every row of `stmt` through `row`, which unlike `query_map`'s closure may fail with our
/// own errors (a malformed id in a row is `CorruptData`, not a rusqlite error).
pub(crate) fn collect_rows<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    mut row: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row(r)?);
    }
    Ok(out)
}

pub(crate) fn put_key(
    conn: &Connection,
    space: &SpaceId,
    epoch: Epoch,
    key: &SpaceKey,
) -> Result<()> {
    conn.execute(
        "INSERT INTO space_keys (space_id, epoch, key) VALUES (?1, ?2, ?3)
         ON CONFLICT(space_id, epoch) DO UPDATE SET key = excluded.key",
        params![space.to_string(), epoch, key.as_bytes().as_slice()],
    )?;
    Ok(())
}

pub(crate) fn get_key(
    conn: &Connection,
    space: &SpaceId,
    epoch: Epoch,
) -> Result<Option<SpaceKey>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT key FROM space_keys WHERE space_id = ?1 AND epoch = ?2")?
        .query_row(params![space.to_string(), epoch], |r| r.get(0))
        .optional()?;
    bytes.map(|b| SpaceKey::from_bytes(&b)).transpose()
}

/// The epoch new blobs of a space are sealed with.
pub(crate) fn key_epoch(conn: &Connection, space: &SpaceId) -> Result<Epoch> {
    Ok(conn
        .prepare_cached("SELECT key_epoch FROM spaces WHERE id = ?1")?
        .query_row([space.to_string()], |r| r.get(0))
        .optional()?
        .unwrap_or(1))
}

pub(crate) fn set_key_epoch(conn: &Connection, space: &SpaceId, epoch: Epoch) -> Result<()> {
    conn.execute(
        "UPDATE spaces SET key_epoch = max(key_epoch, ?2) WHERE id = ?1",
        params![space.to_string(), epoch],
    )?;
    Ok(())
}

/// Where a document lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocRow {
    pub rowid: i64,
    pub space: SpaceId,
}

pub(crate) fn doc_row(conn: &Connection, doc_id: &uuid::Uuid) -> Result<Option<DocRow>> {
    conn.prepare_cached("SELECT rowid, space_id FROM docs WHERE doc_id = ?1")?
        .query_row([doc_id.to_string()], |r| {
            Ok((r.get(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
        .map(|(rowid, s)| {
            Ok(DocRow {
                rowid,
                space: s.parse().map_err(|_| corrupt("document"))?,
            })
        })
        .transpose()
}

pub(crate) fn insert_doc(
    conn: &Connection,
    doc_id: &uuid::Uuid,
    space: &SpaceId,
    kind: &str,
) -> Result<i64> {
    conn.prepare_cached("INSERT INTO docs (doc_id, space_id, kind) VALUES (?1, ?2, ?3)")?
        .execute(params![doc_id.to_string(), space.to_string(), kind])?;
    Ok(conn.last_insert_rowid())
}

/// A document as stored: its snapshot (if compacted yet) and its chunks, in order.
pub(crate) type DocBytes = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// The `seq` range of a document's chunks: `[doc << 32, (doc + 1) << 32)` (schema V3).
fn chunk_range(rowid: i64) -> Result<(i64, i64)> {
    if !(0..1 << 31).contains(&rowid) {
        return Err(Error::Internal(format!(
            "document rowid {rowid} out of range"
        )));
    }
    Ok((rowid << 32, (rowid + 1) << 32))
}

/// The document at `rowid`: its id and space.
pub(crate) fn doc_at(conn: &Connection, rowid: i64) -> Result<Option<(uuid::Uuid, SpaceId)>> {
    conn.prepare_cached("SELECT doc_id, space_id FROM docs WHERE rowid = ?1")?
        .query_row([rowid], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
        .map(|(d, s)| {
            Ok((
                d.parse().map_err(|_| corrupt("document"))?,
                s.parse().map_err(|_| corrupt("document"))?,
            ))
        })
        .transpose()
}

/// A document's stored snapshot and its chunks, in order.
pub(crate) fn doc_bytes(conn: &Connection, rowid: i64) -> Result<DocBytes> {
    let snapshot: Option<Vec<u8>> = conn
        .prepare_cached("SELECT snapshot FROM docs WHERE rowid = ?1")?
        .query_row([rowid], |r| r.get(0))?;
    let (lo, hi) = chunk_range(rowid)?;
    let mut stmt =
        conn.prepare_cached("SELECT data FROM chunks WHERE seq >= ?1 AND seq < ?2 ORDER BY seq")?;
    let chunks = stmt
        .query_map([lo, hi], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((snapshot, chunks))
}

/// A document's stored snapshot and chunks, one after the other: its whole state as one
/// run of Automerge chunks (what `load_foreign` and `load_incremental` take).
pub(crate) fn doc_data(conn: &Connection, rowid: i64) -> Result<Vec<u8>> {
    let (snapshot, chunks) = doc_bytes(conn, rowid)?;
    let mut data = snapshot.unwrap_or_default();
    for c in chunks {
        data.extend_from_slice(&c);
    }
    Ok(data)
}

/// The bytes a document is stored in (its snapshot and chunks): any write changes it.
pub(crate) fn doc_len(conn: &Connection, rowid: i64) -> Result<u64> {
    let (lo, hi) = chunk_range(rowid)?;
    Ok(conn
        .prepare_cached(
            "SELECT coalesce((SELECT length(snapshot) FROM docs WHERE rowid = ?1), 0)
                  + coalesce((SELECT sum(length(data)) FROM chunks WHERE seq >= ?2 AND seq < ?3), 0)",
        )?
        .query_row(params![rowid, lo, hi], |r| r.get::<_, i64>(0))? as u64)
}

/// Store a chunk after the document's others: it lands on the page that holds them.
pub(crate) fn append_chunk(conn: &Connection, rowid: i64, data: &[u8]) -> Result<()> {
    let (lo, hi) = chunk_range(rowid)?;
    conn.prepare_cached(
        "INSERT INTO chunks (seq, doc, data)
         VALUES (coalesce((SELECT seq FROM chunks WHERE seq >= ?1 AND seq < ?2
                           ORDER BY seq DESC LIMIT 1), ?1) + 1, ?3, ?4)",
    )?
    .execute(params![lo, hi, rowid, data])?;
    Ok(())
}

/// Fold all chunks into a new snapshot (inside the caller's transaction).
pub(crate) fn compact(conn: &Connection, rowid: i64, snapshot: &[u8]) -> Result<()> {
    conn.prepare_cached("UPDATE docs SET snapshot = ?2 WHERE rowid = ?1")?
        .execute(params![rowid, snapshot])?;
    let (lo, hi) = chunk_range(rowid)?;
    conn.prepare_cached("DELETE FROM chunks WHERE seq >= ?1 AND seq < ?2")?
        .execute([lo, hi])?;
    Ok(())
}

/// Rowids of the documents with chunks not yet folded into their snapshot.
pub(crate) fn chunked_docs(conn: &Connection) -> Result<Vec<i64>> {
    Ok(conn
        .prepare("SELECT DISTINCT doc FROM chunks")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn space_docs(
    conn: &Connection,
    space: &SpaceId,
) -> Result<Vec<(i64, uuid::Uuid, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, doc_id, kind FROM docs WHERE space_id = ?1 ORDER BY rowid",
    )?;
    collect_rows(&mut stmt, [space.to_string()], |r| {
        let id: String = r.get(1)?;
        Ok((
            r.get(0)?,
            id.parse().map_err(|_| corrupt("document"))?,
            r.get(2)?,
        ))
    })
}

/// Queue a change for the relay, in the clear: it is sealed when pushed, with the key
/// epoch of that moment (see `relay::outbox_batch`). No encryption on the writing path.
pub(crate) fn enqueue(
    conn: &Connection,
    space: &SpaceId,
    doc: &uuid::Uuid,
    kind: &str,
    data: &[u8],
    now: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO outbox (space_id, doc, kind, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        space.to_string(),
        doc.as_bytes().as_slice(),
        kind,
        data,
        now
    ])?;
    Ok(())
}

/// Number of changes waiting for the relay.
pub(crate) fn outbox_len(conn: &Connection) -> Result<u64> {
    // What waits to be pushed: not what is parked for a journal we were removed from.
    Ok(conn.query_row(
        "SELECT count(*) FROM outbox WHERE space_id NOT IN
             (SELECT space_id FROM sync_spaces WHERE removed_at IS NOT NULL)",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}
