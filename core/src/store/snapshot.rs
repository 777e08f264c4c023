//! Journal snapshots (ADR 16): every document of a space read straight from the store with
//! its index rows, without loading one; and the documents a snapshot installed that are
//! still waiting to be loaded.

use rusqlite::{Connection, OptionalExtension, params};

use crate::blob::{DocKind, Payload, SnapshotAttachment, SnapshotIndex};
use crate::error::Result;
use crate::ids::{AttachmentId, SpaceId};
use crate::model::EntryKind;
use crate::store::{chunk_range, corrupt, doc_data};

/// Every document of a space as a snapshot carries it: meta documents first, then entries,
/// newest first (so a reader that installs in that order has the newest to show first).
/// An entry's index rows come along unless this device's are not the document's own (an
/// unrevealed sealed answer) or its full-text row is stale (refresh it first).
pub(crate) fn export(conn: &Connection, space: &SpaceId) -> Result<Vec<Payload>> {
    let mut stmt = conn.prepare(
        "SELECT d.rowid, d.doc_id, d.kind,
                e.author, e.kind, e.created_at, e.updated_at, e.deleted_at, e.prompt_id, e.mood,
                e.closeness, e.reaction_count, e.reply_count,
                e.answer_state = 0 AND e.fts_dirty = 0, f.title, f.body, f.extra
         FROM docs d
         LEFT JOIN entries e ON e.rowid = d.rowid
         LEFT JOIN entries_fts f ON f.rowid = d.rowid
         WHERE d.space_id = ?1
         ORDER BY d.kind = 'entry', e.created_at DESC, d.rowid",
    )?;
    let mut rows = stmt.query([space.to_string()])?;
    let mut docs = Vec::new();
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let id: String = r.get(1)?;
        let id: uuid::Uuid = id.parse().map_err(|_| corrupt("document"))?;
        let kind = match r.get::<_, String>(2)?.as_str() {
            "meta" => DocKind::Meta,
            _ => DocKind::Entry,
        };
        let data = doc_data(conn, rowid)?;
        let indexed = r.get::<_, Option<bool>>(13)?.unwrap_or(false)
            && r.get::<_, Option<String>>(14)?.is_some();
        let index = if kind == DocKind::Entry && indexed {
            let author: String = r.get(3)?;
            let entry_kind: String = r.get(4)?;
            Some(SnapshotIndex {
                author: author.parse().map_err(|_| corrupt("entry"))?,
                kind: EntryKind::parse(&entry_kind).map_err(|_| corrupt("entry"))?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                deleted_at: r.get(7)?,
                prompt_id: r.get(8)?,
                mood: r.get(9)?,
                closeness: r.get(10)?,
                reaction_count: r.get(11)?,
                reply_count: r.get(12)?,
                title: r.get(14)?,
                body: r.get(15)?,
                extra: r.get(16)?,
                tags: tags(conn, rowid)?,
                attachments: attachments(conn, rowid)?,
            })
        } else {
            None
        };
        docs.push(Payload {
            doc: *id.as_bytes(),
            kind,
            data,
            index,
        });
    }
    Ok(docs)
}

fn tags(conn: &Connection, rowid: i64) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT tag FROM entry_tags WHERE entry = ?1 ORDER BY tag")?;
    let tags = stmt
        .query_map([rowid], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(tags)
}

fn attachments(conn: &Connection, rowid: i64) -> Result<Vec<SnapshotAttachment>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, hash, thumb_hash FROM attachments WHERE doc = ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query([rowid])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: [u8; 16] = r.get(0)?;
        out.push(SnapshotAttachment {
            id: AttachmentId::from_bytes(id),
            hash: r.get(1)?,
            thumb: r.get(2)?,
        });
    }
    Ok(out)
}

/// Note that the document at `rowid` came from a snapshot and is not loaded yet.
pub(crate) fn mark_unloaded(conn: &Connection, rowid: i64) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO docs_unloaded (rowid) VALUES (?1)")?
        .execute([rowid])?;
    Ok(())
}

/// Up to `limit` documents still to load, newest entries first, with their entry id and
/// space.
pub(crate) fn unloaded(conn: &Connection, limit: u32) -> Result<Vec<(i64, uuid::Uuid, SpaceId)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.rowid, d.doc_id, d.space_id FROM docs_unloaded u
         JOIN docs d ON d.rowid = u.rowid
         LEFT JOIN entries e ON e.rowid = u.rowid
         ORDER BY e.created_at DESC LIMIT ?1",
    )?;
    crate::store::collect_rows(&mut stmt, [limit], |r| {
        let id: String = r.get(1)?;
        let space: String = r.get(2)?;
        Ok((
            r.get(0)?,
            id.parse().map_err(|_| corrupt("document"))?,
            space.parse().map_err(|_| corrupt("document"))?,
        ))
    })
}

/// The document at `rowid` has been loaded (or is gone).
pub(crate) fn set_loaded(conn: &Connection, rowid: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM docs_unloaded WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// How many documents are still waiting to be loaded.
pub(crate) fn unloaded_count(conn: &Connection) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM docs_unloaded")?
        .query_row([], |r| r.get::<_, i64>(0))? as u64)
}

/// Whether a space holds any entry yet (a snapshot is installed only into one without).
pub(crate) fn has_entries(conn: &Connection, space: &SpaceId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM docs WHERE space_id = ?1 AND kind = 'entry' LIMIT 1")?
        .query_row([space.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Forget a document a snapshot installed whose bytes turned out not to load: its rows
/// everywhere, so that pulling the log brings it anew.
pub(crate) fn drop_doc(conn: &Connection, rowid: i64) -> Result<()> {
    for sql in [
        "DELETE FROM entries_fts WHERE rowid = ?1",
        "DELETE FROM entry_tags WHERE entry = ?1",
        "DELETE FROM attachments WHERE doc = ?1",
        "DELETE FROM entries WHERE rowid = ?1",
        "DELETE FROM docs_unloaded WHERE rowid = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([rowid])?;
    }
    let (lo, hi) = chunk_range(rowid)?;
    conn.prepare_cached("DELETE FROM chunks WHERE seq >= ?1 AND seq < ?2")?
        .execute([lo, hi])?;
    conn.prepare_cached("DELETE FROM docs WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// The newest snapshot this device uploaded or installed for a space (0: none).
pub(crate) fn snapshot_seq(conn: &Connection, space: &SpaceId) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT snapshot_seq FROM sync_spaces WHERE space_id = ?1")?
        .query_row([space.to_string()], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0) as u64)
}

pub(crate) fn set_snapshot_seq(conn: &Connection, space: &SpaceId, seq: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_spaces (space_id, snapshot_seq) VALUES (?1, ?2)
         ON CONFLICT(space_id) DO UPDATE SET snapshot_seq = max(snapshot_seq, excluded.snapshot_seq)",
    )?
    .execute(params![space.to_string(), seq as i64])?;
    Ok(())
}

/// Start a space's log over from the beginning (after a snapshot's document failed to
/// load, the log brings it again; what is already here merges as a no-op).
pub(crate) fn reset_cursor(conn: &Connection, space: &SpaceId) -> Result<()> {
    conn.prepare_cached("UPDATE sync_spaces SET cursor = 0 WHERE space_id = ?1")?
        .execute([space.to_string()])?;
    Ok(())
}
