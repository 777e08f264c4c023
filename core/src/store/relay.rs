//! What the device store keeps about the relay: its URL and our credentials there, a pull
//! cursor per space, the outbox queue's reading side, and quarantined blobs.

use rusqlite::{Connection, OptionalExtension, params};

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::ids::SpaceId;

/// The relay row.
#[derive(Debug, Clone)]
pub(crate) struct RelayRow {
    pub url: String,
    pub device_id: Option<uuid::Uuid>,
    pub token: Option<String>,
}

pub(crate) fn relay(conn: &Connection) -> Result<Option<RelayRow>> {
    conn.query_row(
        "SELECT url, device_id, token FROM relay WHERE id = 1",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get(2)?,
            ))
        },
    )
    .optional()?
    .map(|(url, dev, token)| {
        Ok(RelayRow {
            url,
            device_id: dev
                .map(|d| d.parse())
                .transpose()
                .map_err(|_| Error::CorruptData("malformed relay row".into()))?,
            token,
        })
    })
    .transpose()
}

/// Point this home at a relay. A different relay means new credentials and fresh cursors.
pub(crate) fn set_relay_url(conn: &Connection, url: &str) -> Result<bool> {
    let old = relay(conn)?;
    if old.as_ref().map(|r| r.url.as_str()) == Some(url) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO relay (id, url) VALUES (1, ?1)
         ON CONFLICT(id) DO UPDATE SET url = excluded.url, device_id = NULL, token = NULL",
        [url],
    )?;
    conn.execute("DELETE FROM sync_spaces", [])?;
    Ok(true)
}

pub(crate) fn set_credentials(conn: &Connection, device: &uuid::Uuid, token: &str) -> Result<()> {
    conn.execute(
        "UPDATE relay SET device_id = ?1, token = ?2 WHERE id = 1",
        params![device.to_string(), token],
    )?;
    Ok(())
}

/// (cursor, known to the relay) for a space.
pub(crate) fn sync_space(conn: &Connection, space: &SpaceId) -> Result<(u64, bool)> {
    Ok(conn
        .prepare_cached("SELECT cursor, on_relay FROM sync_spaces WHERE space_id = ?1")?
        .query_row([space.to_string()], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?))
        })
        .optional()?
        .unwrap_or((0, false)))
}

/// The relay holds the space and this device is a member (again, if it had been removed).
pub(crate) fn set_on_relay(conn: &Connection, space: &SpaceId) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_spaces (space_id, on_relay) VALUES (?1, 1)
         ON CONFLICT(space_id) DO UPDATE SET on_relay = 1, removed_at = NULL",
        [space.to_string()],
    )?;
    Ok(())
}

/// The relay no longer lets this device into the space: a partner removed it. Its queued
/// blobs stay queued but are skipped by [`outbox_head`].
pub(crate) fn set_removed(conn: &Connection, space: &SpaceId, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_spaces (space_id, on_relay, removed_at) VALUES (?1, 1, ?2)
         ON CONFLICT(space_id) DO UPDATE SET removed_at = ?2",
        params![space.to_string(), now],
    )?;
    Ok(())
}

/// Advance a cursor (never backwards: two syncs may race). Pulling means membership.
pub(crate) fn advance_cursor(conn: &Connection, space: &SpaceId, cursor: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_spaces (space_id, cursor, on_relay) VALUES (?1, ?2, 1)
         ON CONFLICT(space_id) DO UPDATE SET cursor = max(cursor, excluded.cursor), on_relay = 1,
             removed_at = NULL",
    )?
    .execute(params![space.to_string(), cursor as i64])?;
    Ok(())
}

/// One queued blob.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub seq: i64,
    pub blob_id: Vec<u8>,
    pub space: SpaceId,
    pub sealed: Vec<u8>,
}

/// The oldest queued blobs of the space at the head of the queue (pushes go one space at
/// a time, in order), leaving out spaces this device was removed from.
pub(crate) fn outbox_head(
    conn: &Connection,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Queued>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, blob_id, space_id, sealed FROM outbox
         WHERE space_id = (SELECT space_id FROM outbox WHERE space_id NOT IN
                               (SELECT space_id FROM sync_spaces WHERE removed_at IS NOT NULL)
                           ORDER BY seq LIMIT 1)
         ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let (seq, blob_id, space, sealed) = row?;
        bytes += sealed.len();
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(Queued {
            seq,
            blob_id,
            space: space
                .parse()
                .map_err(|_| Error::CorruptData("malformed outbox row".into()))?,
            sealed,
        });
    }
    Ok(out)
}

pub(crate) fn outbox_remove(conn: &Connection, seqs: &[i64]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
    for s in seqs {
        stmt.execute([s])?;
    }
    Ok(())
}

pub(crate) fn quarantine(
    conn: &Connection,
    space: &SpaceId,
    seq: u64,
    blob_id: &[u8],
    sealed: &[u8],
    error: &str,
    now: Millis,
) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO quarantine (space_id, seq, blob_id, sealed, error, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![space.to_string(), seq as i64, blob_id, sealed, error, now],
    )?;
    Ok(())
}

/// (space, seq, error) of every quarantined blob.
pub(crate) fn quarantined(conn: &Connection) -> Result<Vec<(String, u64, String)>> {
    let mut stmt = conn.prepare("SELECT space_id, seq, error FROM quarantine ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
