//! Sealed prompt answers on this device (ADR 11): the answer keys it holds, my person's
//! relay shares per round, and the index's view of which answers are sealed here.

use rusqlite::{Connection, OptionalExtension, params};

use crate::crypto::AnswerKey;
use crate::error::{Error, Result};
use crate::ids::{EntryId, SpaceId};
use crate::store::collect_rows;

/// An answer as the index knows it: `answer_state` 1 (sealed here) or 2 (unrevealed, read
/// here).
pub(crate) const SEALED_HERE: i64 = 1;
pub(crate) const OPEN_HERE: i64 = 2;

fn corrupt() -> Error {
    Error::CorruptData("malformed answer row in the local store".into())
}

/// One row of (32-byte key or share, flag), if there is one.
fn key_and_flag(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<(AnswerKey, bool)>> {
    conn.prepare_cached(sql)?
        .query_row(params, |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?))
        })
        .optional()?
        .map(|(k, flag)| Ok((AnswerKey::from_bytes(&k)?, flag)))
        .transpose()
}

/// The key of an answer, and whether this device wrote it.
pub(crate) fn key(conn: &Connection, entry: &EntryId) -> Result<Option<(AnswerKey, bool)>> {
    key_and_flag(
        conn,
        "SELECT key, own FROM answer_keys WHERE entry_id = ?1",
        [entry.to_string()],
    )
}

/// Keep an answer's key (a key already held stays, with its `own`).
pub(crate) fn put_key(
    conn: &Connection,
    entry: &EntryId,
    key: &AnswerKey,
    own: bool,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO answer_keys (entry_id, key, own) VALUES (?1, ?2, ?3)
         ON CONFLICT(entry_id) DO NOTHING",
    )?
    .execute(params![entry.to_string(), key.as_bytes().as_slice(), own])?;
    Ok(())
}

/// My person's relay share for a round of a space, and whether the relay holds it.
pub(crate) fn share(
    conn: &Connection,
    space: &SpaceId,
    round: &str,
) -> Result<Option<(AnswerKey, bool)>> {
    key_and_flag(
        conn,
        "SELECT share, registered FROM answer_shares WHERE space_id = ?1 AND round = ?2",
        params![space.to_string(), round],
    )
}

/// Keep my person's share for a round. One made here (`registered` false) is only ever the
/// round's first; once the relay holds a share (`registered` true: mine, or another
/// device's that came first) it replaces whatever was kept.
pub(crate) fn put_share(
    conn: &Connection,
    space: &SpaceId,
    round: &str,
    share: &AnswerKey,
    registered: bool,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO answer_shares (space_id, round, share, registered) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(space_id, round) DO UPDATE SET share = excluded.share, registered = 1
         WHERE excluded.registered = 1",
    )?
    .execute(params![
        space.to_string(),
        round,
        share.as_bytes().as_slice(),
        registered
    ])?;
    Ok(())
}

/// Shares the relay doesn't hold yet: (space, round, share).
pub(crate) fn unregistered(conn: &Connection) -> Result<Vec<(SpaceId, String, AnswerKey)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT space_id, round, share FROM answer_shares WHERE registered = 0
         ORDER BY space_id, round",
    )?;
    collect_rows(&mut stmt, [], |r| {
        Ok((
            r.get::<_, String>(0)?.parse().map_err(|_| corrupt())?,
            r.get(1)?,
            AnswerKey::from_bytes(&r.get::<_, Vec<u8>>(2)?)?,
        ))
    })
}

/// Whether any share waits to be registered (an answer was just written).
pub(crate) fn any_unregistered(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM answer_shares WHERE registered = 0)")?
        .query_row([], |r| r.get(0))?)
}

/// An unrevealed answer as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub entry: EntryId,
    pub space: SpaceId,
    pub round: String,
}

fn pending_rows(conn: &Connection, sql: &str) -> Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(sql)?;
    collect_rows(&mut stmt, [], |r| {
        Ok(Pending {
            entry: r.get::<_, String>(0)?.parse().map_err(|_| corrupt())?,
            space: r.get::<_, String>(1)?.parse().map_err(|_| corrupt())?,
            round: r.get(2)?,
        })
    })
}

/// Answers sealed on this device (no key yet): a partner's, or mine written elsewhere.
pub(crate) fn sealed_here(conn: &Connection) -> Result<Vec<Pending>> {
    pending_rows(
        conn,
        "SELECT id, space_id, answer_round FROM entries
         WHERE answer_state = 1 AND answer_round IS NOT NULL
         ORDER BY space_id, answer_round",
    )
}

/// Answers written on this device and not revealed yet.
pub(crate) fn own_unrevealed(conn: &Connection) -> Result<Vec<Pending>> {
    pending_rows(
        conn,
        "SELECT e.id, e.space_id, e.answer_round FROM entries e
         JOIN answer_keys k ON k.entry_id = e.id
         WHERE e.answer_state = 2 AND k.own = 1 AND e.answer_round IS NOT NULL
         ORDER BY e.space_id, e.answer_round",
    )
}

/// Answers written on this device, unrevealed, in one round of a space.
pub(crate) fn own_in_round(
    conn: &Connection,
    space: &SpaceId,
    round: &str,
) -> Result<Vec<EntryId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id FROM entries e JOIN answer_keys k ON k.entry_id = e.id
         WHERE e.answer_state = 2 AND k.own = 1 AND e.space_id = ?1 AND e.answer_round = ?2
         ORDER BY e.id",
    )?;
    collect_rows(&mut stmt, params![space.to_string(), round], |r| {
        r.get::<_, String>(0)?.parse().map_err(|_| corrupt())
    })
}
