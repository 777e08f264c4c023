//! Attachments in the device store (schema V8): which entry refers to which sealed object,
//! the sealed files held here, and what the relay still has to get or let go.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::ids::{AttachmentId, SpaceId};

/// A sealed object's address.
pub(crate) type Hash = [u8; 32];

fn hash_of(v: Vec<u8>) -> rusqlite::Result<Hash> {
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "an attachment hash is not 32 bytes".into(),
        )
    })
}

/// An object's reference in a space: what uploads and releases are keyed by.
pub(crate) type RefKey<'a> = (&'a SpaceId, &'a Hash, &'a [u8; 16]);

/// Run `sql` with (space, hash, reference) as ?1, ?2, ?3.
fn by_key(conn: &Connection, sql: &str, (space, hash, reference): RefKey<'_>) -> Result<()> {
    conn.prepare_cached(sql)?.execute(params![
        space.to_string(),
        hash.as_slice(),
        reference.as_slice()
    ])?;
    Ok(())
}

/// Rewrite the attachments of the document at `doc` (from its references).
pub(crate) fn set_for_doc(
    conn: &Connection,
    doc: i64,
    refs: &[(AttachmentId, Hash, Option<Hash>)],
) -> Result<()> {
    conn.prepare_cached("DELETE FROM attachments WHERE doc = ?1")?
        .execute([doc])?;
    let mut ins = conn.prepare_cached(
        "INSERT OR REPLACE INTO attachments (id, doc, hash, thumb_hash) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (id, hash, thumb) in refs {
        ins.execute(params![
            id.as_bytes().as_slice(),
            doc,
            hash.as_slice(),
            thumb.as_ref().map(|t| t.as_slice())
        ])?;
    }
    Ok(())
}

/// Every attachment id the entries here refer to.
pub(crate) fn all_ids(conn: &Connection) -> Result<Vec<AttachmentId>> {
    ids(conn, "SELECT id FROM attachments")
}

/// The attachment ids a query's first column gives (malformed ones skipped).
fn ids(conn: &Connection, sql: &str) -> Result<Vec<AttachmentId>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for row in rows {
        if let Ok(b) = <[u8; 16]>::try_from(row?) {
            out.push(AttachmentId::from_bytes(b));
        }
    }
    Ok(out)
}

/// The document row an attachment is in.
pub(crate) fn doc_of(conn: &Connection, id: &AttachmentId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT doc FROM attachments WHERE id = ?1")?
        .query_row([id.as_bytes().as_slice()], |r| r.get(0))
        .optional()?)
}

/// Attachments whose thumbnail some entry refers to and this device doesn't hold.
pub(crate) fn missing_thumbnails(conn: &Connection) -> Result<Vec<AttachmentId>> {
    ids(
        conn,
        "SELECT a.id FROM attachments a
         WHERE a.thumb_hash IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM attachment_files f WHERE f.hash = a.thumb_hash)",
    )
}

/// A sealed file held here: its sealed length.
pub(crate) fn file(conn: &Connection, hash: &Hash) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached("SELECT size FROM attachment_files WHERE hash = ?1")?
        .query_row([hash.as_slice()], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|s| s as u64))
}

/// Note a sealed file as held here (and just used).
pub(crate) fn keep_file(
    conn: &Connection,
    hash: &Hash,
    size: u64,
    thumb: bool,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO attachment_files (hash, size, thumb, used_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (hash) DO UPDATE SET used_at = ?4, thumb = min(thumb, ?3)",
    )?
    .execute(params![hash.as_slice(), size as i64, thumb, now])?;
    Ok(())
}

/// Mark a held file as just used (for the cache's least-recently-used order).
pub(crate) fn touch_file(conn: &Connection, hash: &Hash, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE attachment_files SET used_at = ?2 WHERE hash = ?1")?
        .execute(params![hash.as_slice(), now])?;
    Ok(())
}

pub(crate) fn forget_file(conn: &Connection, hash: &Hash) -> Result<()> {
    conn.prepare_cached("DELETE FROM attachment_files WHERE hash = ?1")?
        .execute([hash.as_slice()])?;
    Ok(())
}

/// Originals to evict, least recently used first, until those left take at most `budget`
/// bytes; never one still waiting to upload.
pub(crate) fn over_budget(conn: &Connection, budget: u64) -> Result<Vec<Hash>> {
    let total: i64 = conn
        .prepare_cached("SELECT coalesce(sum(size), 0) FROM attachment_files WHERE thumb = 0")?
        .query_row([], |r| r.get(0))?;
    let mut excess = (total as u64).saturating_sub(budget);
    if excess == 0 {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare_cached(
        "SELECT f.hash, f.size FROM attachment_files f
         WHERE f.thumb = 0
           AND NOT EXISTS (SELECT 1 FROM attachment_uploads u WHERE u.hash = f.hash)
         ORDER BY f.used_at",
    )?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while excess > 0
        && let Some(r) = rows.next()?
    {
        out.push(hash_of(r.get(0)?)?);
        excess = excess.saturating_sub(r.get::<_, i64>(1)? as u64);
    }
    Ok(out)
}

/// Held files no entry refers to any more and nothing waits to upload.
pub(crate) fn unreferenced_files(conn: &Connection) -> Result<Vec<Hash>> {
    let mut st = conn.prepare_cached(
        "SELECT f.hash FROM attachment_files f
         WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.hash = f.hash OR a.thumb_hash = f.hash)
           AND NOT EXISTS (SELECT 1 FROM attachment_uploads u WHERE u.hash = f.hash)",
    )?;
    let rows = st.query_map([], |r| hash_of(r.get(0)?))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An object the relay still has to get (or reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub(crate) space: SpaceId,
    pub(crate) hash: Hash,
    pub(crate) reference: [u8; 16],
    pub(crate) size: u64,
    pub(crate) attachment: AttachmentId,
}

pub(crate) fn queue_upload(conn: &Connection, u: &Upload, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO attachment_uploads (space_id, hash, ref, size, attachment, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        u.space.to_string(),
        u.hash.as_slice(),
        u.reference.as_slice(),
        u.size as i64,
        u.attachment.as_bytes().as_slice(),
        now
    ])?;
    Ok(())
}

/// Uploads waiting, smallest first (thumbnails before the originals they belong to).
pub(crate) fn uploads(conn: &Connection) -> Result<Vec<Upload>> {
    let mut st = conn.prepare_cached(
        "SELECT space_id, hash, ref, size, attachment FROM attachment_uploads
         ORDER BY size, queued_at",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            hash_of(r.get(1)?)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (space, hash, reference, size, attachment) = row?;
        let (Ok(space), Ok(reference), Ok(attachment)) = (
            space.parse::<SpaceId>(),
            <[u8; 16]>::try_from(reference),
            <[u8; 16]>::try_from(attachment),
        ) else {
            continue;
        };
        out.push(Upload {
            space,
            hash,
            reference,
            size: size as u64,
            attachment: AttachmentId::from_bytes(attachment),
        });
    }
    Ok(out)
}

/// The relay holds the object and the reference.
pub(crate) fn uploaded(conn: &Connection, key: RefKey<'_>) -> Result<()> {
    const SQL: &str =
        "DELETE FROM attachment_uploads WHERE space_id = ?1 AND hash = ?2 AND ref = ?3";
    by_key(conn, SQL, key)
}

/// Whether an attachment still waits to upload from here.
pub(crate) fn uploading(conn: &Connection, attachment: &AttachmentId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM attachment_uploads WHERE attachment = ?1 LIMIT 1")?
        .query_row([attachment.as_bytes().as_slice()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Drop an attachment's uploads (it was removed before they went out).
pub(crate) fn cancel_uploads(conn: &Connection, attachment: &AttachmentId) -> Result<()> {
    conn.prepare_cached("DELETE FROM attachment_uploads WHERE attachment = ?1")?
        .execute([attachment.as_bytes().as_slice()])?;
    Ok(())
}

pub(crate) fn queue_release(conn: &Connection, key: RefKey<'_>) -> Result<()> {
    const SQL: &str =
        "INSERT OR IGNORE INTO attachment_releases (space_id, hash, ref) VALUES (?1, ?2, ?3)";
    by_key(conn, SQL, key)
}

/// References to release: (space, hash, reference).
pub(crate) fn releases(conn: &Connection) -> Result<Vec<(SpaceId, Hash, [u8; 16])>> {
    let mut st = conn.prepare_cached("SELECT space_id, hash, ref FROM attachment_releases")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            hash_of(r.get(1)?)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (space, hash, reference) = row?;
        if let (Ok(space), Ok(reference)) = (space.parse(), <[u8; 16]>::try_from(reference)) {
            out.push((space, hash, reference));
        }
    }
    Ok(out)
}

pub(crate) fn released(conn: &Connection, key: RefKey<'_>) -> Result<()> {
    const SQL: &str =
        "DELETE FROM attachment_releases WHERE space_id = ?1 AND hash = ?2 AND ref = ?3";
    by_key(conn, SQL, key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Past the budget the least recently used originals go first; one still waiting to
    /// upload stays, and thumbnails are never counted or evicted.
    #[test]
    fn eviction_is_least_recently_used_and_spares_uploads_and_thumbnails() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrations()
            .to_latest(&mut conn)
            .unwrap();
        let h = |n: u8| [n; 32];
        keep_file(&conn, &h(1), 100, false, 10).unwrap();
        keep_file(&conn, &h(2), 100, false, 20).unwrap();
        keep_file(&conn, &h(3), 100, false, 30).unwrap();
        keep_file(&conn, &h(9), 1000, true, 1).unwrap();
        let space = SpaceId::new();
        queue_upload(
            &conn,
            &Upload {
                space,
                hash: h(1),
                reference: [0; 16],
                size: 100,
                attachment: AttachmentId::new(),
            },
            5,
        )
        .unwrap();
        assert!(over_budget(&conn, 300).unwrap().is_empty());
        // 1 is the oldest but waits to upload: 2 goes, then 3.
        assert_eq!(over_budget(&conn, 200).unwrap(), vec![h(2)]);
        touch_file(&conn, &h(2), 40).unwrap();
        assert_eq!(over_budget(&conn, 200).unwrap(), vec![h(3)]);
        assert_eq!(over_budget(&conn, 0).unwrap(), vec![h(3), h(2)]);
        uploaded(&conn, (&space, &h(1), &[0; 16])).unwrap();
        assert_eq!(over_budget(&conn, 0).unwrap(), vec![h(1), h(3), h(2)]);
    }
}
