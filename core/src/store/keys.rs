//! This device's exchange secret and the key drops it still owes (see `keydrop.rs`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::crypto::Epoch;
use crate::error::Result;
use crate::ids::SpaceId;
use crate::keydrop::ExchangeSecret;

/// This device's exchange secret, made and kept at first use.
pub(crate) fn exchange_secret(conn: &Connection) -> Result<ExchangeSecret> {
    let held: Option<Vec<u8>> = conn
        .query_row(
            "SELECT exchange_secret FROM identity WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    if let Some(bytes) = held {
        return ExchangeSecret::from_bytes(&bytes);
    }
    let fresh = ExchangeSecret::generate();
    conn.execute(
        "UPDATE identity SET exchange_secret = ?1 WHERE id = 1",
        params![fresh.to_bytes().as_slice()],
    )?;
    Ok(fresh)
}

/// Note that the key of `epoch` of `space` is to be dropped for the other devices.
pub(crate) fn owe_drops(conn: &Connection, space: &SpaceId, epoch: Epoch) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO pending_drops (space_id, epoch) VALUES (?1, ?2)",
        params![space.to_string(), epoch],
    )?;
    Ok(())
}

/// The drops still owed, oldest first.
pub(crate) fn owed_drops(conn: &Connection) -> Result<Vec<(SpaceId, Epoch)>> {
    let mut st = conn.prepare("SELECT space_id, epoch FROM pending_drops ORDER BY epoch")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Epoch>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (s, e) = row?;
        if let Ok(space) = s.parse() {
            out.push((space, e));
        }
    }
    Ok(out)
}

pub(crate) fn paid_drops(conn: &Connection, space: &SpaceId, epoch: Epoch) -> Result<()> {
    conn.execute(
        "DELETE FROM pending_drops WHERE space_id = ?1 AND epoch = ?2",
        params![space.to_string(), epoch],
    )?;
    Ok(())
}
