//! Test-only access to the store behind the engine's back: the raw outbox rows a test
//! checks, and the rows it plants or clears to set up a case (a row queued by an older
//! version, a push that already went out). Compiled for unit tests only.

#![allow(clippy::unwrap_used)]

use rusqlite::{Connection, params};

use crate::crypto::Epoch;
use crate::ids::SpaceId;

/// (seq, blob id, epoch, sealed, data in the clear) of one queued row, as stored.
pub(crate) type RawOutboxRow = (
    i64,
    Option<Vec<u8>>,
    Option<Epoch>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

/// A space's queued rows, oldest first, as stored.
pub(crate) fn outbox_rows(conn: &Connection, space: &SpaceId) -> Vec<RawOutboxRow> {
    let mut stmt = conn
        .prepare(
            "SELECT seq, blob_id, epoch, sealed, data FROM outbox WHERE space_id = ?1
             ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([space.to_string()], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// Queue a row sealed at write time, as versions before V4 did.
pub(crate) fn outbox_put_sealed(
    conn: &Connection,
    space: &SpaceId,
    blob_id: &[u8],
    epoch: Epoch,
    sealed: &[u8],
) {
    conn.execute(
        "INSERT INTO outbox (space_id, blob_id, epoch, sealed, created_at)
         VALUES (?1, ?2, ?3, ?4, 0)",
        params![space.to_string(), blob_id, epoch, sealed],
    )
    .unwrap();
}

/// Drop the queued rows of one space (all of them with `None`), as a push would.
pub(crate) fn outbox_clear(conn: &Connection, space: Option<&SpaceId>) {
    match space {
        Some(s) => conn
            .execute("DELETE FROM outbox WHERE space_id = ?1", [s.to_string()])
            .unwrap(),
        None => conn.execute("DELETE FROM outbox", []).unwrap(),
    };
}

/// Number of documents the store holds.
pub(crate) fn doc_count(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))
        .unwrap()
}
