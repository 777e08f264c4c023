//! What the device store keeps about the relay: its URL and our credentials there (and at
//! relays this home used before), a pull cursor and the newest key epoch seen per space,
//! the outbox queue's pushing side (what was sealed for a push is recorded here), and
//! quarantined blobs.

use rusqlite::{Connection, OptionalExtension, params};

use crate::blob::{DocKind, Payload};
use crate::clock::Millis;
use crate::crypto::Epoch;
use crate::error::{Error, Result};
use crate::ids::SpaceId;

/// The relay row.
#[derive(Debug, Clone)]
pub(crate) struct RelayRow {
    pub url: String,
    pub device_id: Option<uuid::Uuid>,
    pub token: Option<String>,
    /// The URL the credentials were issued at; another URL than `url` means they must be
    /// checked there before use (same relay under another name, or a new one).
    pub issued_for: Option<String>,
}

impl RelayRow {
    /// The credentials, when they were issued at the current URL.
    pub(crate) fn current(&self) -> Option<(uuid::Uuid, &str)> {
        match (&self.device_id, &self.token) {
            (Some(id), Some(t)) if self.issued_for.as_deref() == Some(self.url.as_str()) => {
                Some((*id, t.as_str()))
            }
            _ => None,
        }
    }
}

fn parse_device(d: Option<String>) -> Result<Option<uuid::Uuid>> {
    d.map(|d| d.parse())
        .transpose()
        .map_err(|_| Error::CorruptData("malformed relay row".into()))
}

pub(crate) fn relay(conn: &Connection) -> Result<Option<RelayRow>> {
    conn.query_row(
        "SELECT url, device_id, token, issued_for FROM relay WHERE id = 1",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        },
    )
    .optional()?
    .map(|(url, dev, token, issued_for)| {
        Ok(RelayRow {
            url,
            device_id: parse_device(dev)?,
            token,
            issued_for,
        })
    })
    .transpose()
}

/// Point this home at a relay URL. The credentials are kept (still marked as issued at the
/// old URL) and archived under that URL; nothing else changes until they are checked at
/// the new one (`Duet::register`). Returns whether the URL changed.
pub(crate) fn set_relay_url(conn: &Connection, url: &str) -> Result<bool> {
    let old = relay(conn)?;
    if old.as_ref().map(|r| r.url.as_str()) == Some(url) {
        return Ok(false);
    }
    if let Some(RelayRow {
        device_id: Some(dev),
        token: Some(token),
        issued_for: Some(at),
        ..
    }) = &old
    {
        archive_identity(conn, at, dev, token)?;
    }
    conn.execute(
        "INSERT INTO relay (id, url) VALUES (1, ?1)
         ON CONFLICT(id) DO UPDATE SET url = excluded.url",
        [url],
    )?;
    Ok(true)
}

/// Credentials issued at the current URL (registered, adopted or restored there); they
/// are archived under it too.
pub(crate) fn set_credentials(conn: &Connection, device: &uuid::Uuid, token: &str) -> Result<()> {
    conn.execute(
        "UPDATE relay SET device_id = ?1, token = ?2, issued_for = url WHERE id = 1",
        params![device.to_string(), token],
    )?;
    if let Some(r) = relay(conn)? {
        archive_identity(conn, &r.url, device, token)?;
    }
    Ok(())
}

fn archive_identity(conn: &Connection, url: &str, device: &uuid::Uuid, token: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO relay_identities (url, device_id, token) VALUES (?1, ?2, ?3)
         ON CONFLICT(url) DO UPDATE SET device_id = excluded.device_id, token = excluded.token",
        params![url, device.to_string(), token],
    )?;
    Ok(())
}

/// The credentials this home once held at `url`, if any.
pub(crate) fn archived_identity(
    conn: &Connection,
    url: &str,
) -> Result<Option<(uuid::Uuid, String)>> {
    conn.query_row(
        "SELECT device_id, token FROM relay_identities WHERE url = ?1",
        [url],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()?
    .map(|(d, t)| {
        let d = d
            .parse()
            .map_err(|_| Error::CorruptData("malformed relay identity row".into()))?;
        Ok((d, t))
    })
    .transpose()
}

/// Archived credentials the relay at `url` no longer knows.
pub(crate) fn forget_identity(conn: &Connection, url: &str) -> Result<()> {
    conn.execute("DELETE FROM relay_identities WHERE url = ?1", [url])?;
    Ok(())
}

/// A relay that doesn't hold our log: every space starts over (pulled from 0, created and
/// joined again) and my answer shares are registered again. Spaces we were removed from
/// stay parked.
pub(crate) fn reset_sync_state(conn: &Connection) -> Result<()> {
    conn.execute(
        "UPDATE sync_spaces SET cursor = 0, on_relay = 0, max_epoch = 0",
        [],
    )?;
    // That relay holds none of my answer shares either.
    conn.execute("UPDATE answer_shares SET registered = 0", [])?;
    Ok(())
}

/// Whether a space's queued changes are parked (a partner removed this device from it).
pub(crate) fn is_removed(conn: &Connection, space: &SpaceId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT removed_at IS NOT NULL FROM sync_spaces WHERE space_id = ?1")?
        .query_row([space.to_string()], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
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

/// The newest key epoch seen so far in a space's pulled log (0 before any).
pub(crate) fn max_epoch(conn: &Connection, space: &SpaceId) -> Result<Epoch> {
    Ok(conn
        .prepare_cached("SELECT max_epoch FROM sync_spaces WHERE space_id = ?1")?
        .query_row([space.to_string()], |r| r.get::<_, Epoch>(0))
        .optional()?
        .unwrap_or(0))
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
/// blobs stay queued but are skipped by [`outbox_next_space`].
pub(crate) fn set_removed(conn: &Connection, space: &SpaceId, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_spaces (space_id, on_relay, removed_at) VALUES (?1, 1, ?2)
         ON CONFLICT(space_id) DO UPDATE SET removed_at = ?2",
        params![space.to_string(), now],
    )?;
    Ok(())
}

/// Advance a cursor and the newest epoch seen (never backwards: two syncs may race).
/// Pulling means membership.
pub(crate) fn advance_cursor(
    conn: &Connection,
    space: &SpaceId,
    cursor: u64,
    max_epoch: Epoch,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_spaces (space_id, cursor, on_relay, max_epoch) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT(space_id) DO UPDATE SET cursor = max(cursor, excluded.cursor), on_relay = 1,
             removed_at = NULL, max_epoch = max(max_epoch, excluded.max_epoch)",
    )?
    .execute(params![space.to_string(), cursor as i64, max_epoch])?;
    Ok(())
}

/// One queued row: either still in the clear (`payload`) or sealed for a push already
/// (`sealed`, under `blob_id` and `epoch`).
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub seq: i64,
    pub payload: Option<Payload>,
    pub sealed: Option<SealedRow>,
}

/// A row as sealed for a push: resent exactly so while its epoch is the space's.
#[derive(Debug, Clone)]
pub(crate) struct SealedRow {
    pub blob_id: Vec<u8>,
    /// `None` only for a pre-V4 row whose header couldn't be read (sent as it is).
    pub epoch: Option<Epoch>,
    pub sealed: Vec<u8>,
}

/// The space whose queued changes go next: my personal space while it has any (it carries
/// the key ring, so my other devices get a new key before anything sealed under it), then
/// the space of the oldest row. Spaces this device was removed from are left out, and so
/// are those in `skip` (refused for the rest of this push).
pub(crate) fn outbox_next_space(
    conn: &Connection,
    personal: &SpaceId,
    skip: &[SpaceId],
) -> Result<Option<SpaceId>> {
    let personal_queued = conn
        .prepare_cached("SELECT 1 FROM outbox WHERE space_id = ?1 LIMIT 1")?
        .exists([personal.to_string()])?;
    if personal_queued && !skip.contains(personal) && !is_removed(conn, personal)? {
        return Ok(Some(*personal));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT space_id FROM outbox WHERE space_id NOT IN
             (SELECT space_id FROM sync_spaces WHERE removed_at IS NOT NULL)
         GROUP BY space_id ORDER BY min(seq)",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let space: SpaceId = r.get::<_, String>(0)?.parse().map_err(|_| corrupt())?;
        if !skip.contains(&space) {
            return Ok(Some(space));
        }
    }
    Ok(None)
}

/// Sealing adds the version, epoch, nonce, tag and the payload's CBOR framing.
const SEAL_OVERHEAD: usize = 96;

/// The oldest queued rows of one space, up to `limit` rows and (after the first) about
/// `max_bytes` once sealed.
pub(crate) fn outbox_rows(
    conn: &Connection,
    space: &SpaceId,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Queued>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, doc, kind, data, blob_id, epoch, sealed FROM outbox
         WHERE space_id = ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![space.to_string(), limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<Vec<u8>>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<Vec<u8>>>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?,
            r.get::<_, Option<Epoch>>(5)?,
            r.get::<_, Option<Vec<u8>>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let (seq, doc, kind, data, blob_id, epoch, sealed) = row?;
        let q = match (sealed, blob_id, data) {
            (Some(sealed), Some(blob_id), _) => {
                bytes += sealed.len();
                Queued {
                    seq,
                    payload: None,
                    sealed: Some(SealedRow {
                        blob_id,
                        epoch,
                        sealed,
                    }),
                }
            }
            (_, _, Some(data)) => {
                bytes += data.len() + SEAL_OVERHEAD;
                let doc: [u8; 16] = doc
                    .as_deref()
                    .and_then(|d| d.try_into().ok())
                    .ok_or_else(corrupt)?;
                let kind = match kind.as_deref() {
                    Some("meta") => DocKind::Meta,
                    Some("entry") => DocKind::Entry,
                    _ => return Err(corrupt()),
                };
                Queued {
                    seq,
                    payload: Some(Payload {
                        doc,
                        kind,
                        data,
                        index: None,
                    }),
                    sealed: None,
                }
            }
            _ => return Err(corrupt()),
        };
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(q);
    }
    Ok(out)
}

fn corrupt() -> Error {
    Error::CorruptData("malformed outbox row".into())
}

/// Record how a row was sealed for a push, before it is sent: a retry resends exactly
/// these bytes under this id. Its clear parts go (the sealed bytes open with a key we keep,
/// should the row need sealing again after a rotation).
pub(crate) fn outbox_set_sealed(
    conn: &Connection,
    seq: i64,
    blob_id: &[u8; 16],
    epoch: Epoch,
    sealed: &[u8],
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET blob_id = ?2, epoch = ?3, sealed = ?4, doc = NULL, kind = NULL,
             data = NULL
         WHERE seq = ?1",
    )?
    .execute(params![seq, blob_id.as_slice(), epoch, sealed])?;
    Ok(())
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
