//! This device's part of a recovery kit (see `kit.rs`): the words, if it showed them, and
//! what it last gave the relay as the kit's envelope.

use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::error::Result;

/// The words this device showed, and the lookup id they make.
pub(crate) fn words(conn: &Connection) -> Result<Option<([u8; 16], Zeroizing<String>)>> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> = conn
        .query_row("SELECT words, lookup FROM recovery WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    Ok(match row {
        Some((Some(w), Some(l))) => l.try_into().ok().map(|l| (l, Zeroizing::new(w))),
        _ => None,
    })
}

/// Keep the words of a kit this device made (or recovered with); forgets what was sent.
pub(crate) fn set_words(conn: &Connection, lookup: &[u8; 16], words: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO recovery (id, words, lookup, sent) VALUES (1, ?1, ?2, NULL)
         ON CONFLICT (id) DO UPDATE SET words = ?1, lookup = ?2, sent = NULL",
        params![words, lookup.as_slice()],
    )?;
    Ok(())
}

/// Forget the words (the kit is gone, or another replaced it).
pub(crate) fn forget_words(conn: &Connection) -> Result<()> {
    conn.execute(
        "UPDATE recovery SET words = NULL, lookup = NULL WHERE id = 1",
        [],
    )?;
    Ok(())
}

/// The hash of the envelope this device last gave the relay.
pub(crate) fn sent(conn: &Connection) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT sent FROM recovery WHERE id = 1", [], |r| r.get(0))
        .optional()?
        .flatten())
}

pub(crate) fn set_sent(conn: &Connection, hash: Option<&[u8]>) -> Result<()> {
    conn.execute(
        "INSERT INTO recovery (id, sent) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET sent = ?1",
        params![hash],
    )?;
    Ok(())
}
