//! The entries index: everything a list, a search or a trend needs, without loading a
//! single Automerge document. Derived from the documents; `rebuild` recreates it.

use rusqlite::{Connection, OptionalExtension, params, types::Value as SqlValue};

use crate::clock::Millis;
use crate::doc::entry::IndexFields;
use crate::error::{Error, Result};
use crate::ids::{EntryId, MemberId, SpaceId};
use crate::limits::MAX_PAGE;
use crate::model::*;
use crate::store::collect_rows;

const DEFAULT_PAGE: u32 = 50;
/// Separates tags in the `group_concat` of a list query (a control character, which tags
/// may not contain).
const TAG_SEP: char = '\u{1f}';

/// Index an entry. `answer_state` says whether an unrevealed sealed answer (one with
/// `f.sealed_round`) is sealed here or read here (`store::answers`); 0 for any other entry.
pub(crate) fn upsert(
    conn: &Connection,
    rowid: i64,
    id: &EntryId,
    space: &SpaceId,
    f: &IndexFields,
    updated_at: Millis,
    answer_state: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO entries (rowid, id, space_id, author, kind, created_at, updated_at, deleted_at,
                              title, excerpt, prompt_id, mood, closeness, reaction_count, reply_count,
                              answer_state, answer_round)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT(rowid) DO UPDATE SET
            author = excluded.author, kind = excluded.kind, created_at = excluded.created_at,
            updated_at = max(entries.updated_at, excluded.updated_at),
            deleted_at = excluded.deleted_at, title = excluded.title, excerpt = excluded.excerpt,
            prompt_id = excluded.prompt_id, mood = excluded.mood, closeness = excluded.closeness,
            reaction_count = excluded.reaction_count, reply_count = excluded.reply_count,
            answer_state = excluded.answer_state, answer_round = excluded.answer_round",
    )?
    .execute(params![
        rowid,
        id.to_string(),
        space.to_string(),
        f.author.to_string(),
        f.kind.as_str(),
        f.created_at,
        updated_at,
        f.deleted_at,
        f.title,
        f.excerpt,
        f.prompt_id,
        f.mood,
        f.closeness,
        f.reaction_count,
        f.reply_count,
        answer_state,
        f.sealed_round,
    ])?;
    conn.prepare_cached("DELETE FROM entry_tags WHERE entry = ?1")?
        .execute([rowid])?;
    let mut ins =
        conn.prepare_cached("INSERT OR IGNORE INTO entry_tags (tag, entry) VALUES (?1, ?2)")?;
    for t in &f.tags {
        ins.execute(params![t, rowid])?;
    }
    Ok(())
}

/// The cheap update on the typing path: times, maybe title and excerpt; the full-text row
/// is refreshed lazily, before the next search.
pub(crate) fn touch(
    conn: &Connection,
    rowid: i64,
    updated_at: Millis,
    title: Option<&str>,
    excerpt: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE entries SET updated_at = max(updated_at, ?2),
                title = coalesce(?3, title), excerpt = coalesce(?4, excerpt)
         WHERE rowid = ?1",
    )?
    .execute(params![rowid, updated_at, title, excerpt])?;
    // Separately and only when it changes: an UPDATE that sets `fts_dirty` rewrites the
    // row's entry in the `entries_fts_dirty` index even when the value stays 1, one more
    // page in the WAL on every keystroke.
    conn.prepare_cached("UPDATE entries SET fts_dirty = 1 WHERE rowid = ?1 AND fts_dirty = 0")?
        .execute([rowid])?;
    Ok(())
}

pub(crate) fn set_fts(
    conn: &Connection,
    rowid: i64,
    title: &str,
    body: &str,
    extra: &str,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM entries_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    conn.prepare_cached(
        "INSERT INTO entries_fts (rowid, title, body, extra) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![rowid, title, body, extra])?;
    conn.prepare_cached("UPDATE entries SET fts_dirty = 0 WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// Entries whose full-text row is behind their document.
pub(crate) fn fts_dirty(conn: &Connection) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached("SELECT rowid FROM entries WHERE fts_dirty = 1")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}

/// Where an entry lives and when it last changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryRow {
    pub rowid: i64,
    pub space: SpaceId,
    pub updated_at: Millis,
}

pub(crate) fn entry_row(conn: &Connection, id: &EntryId) -> Result<Option<EntryRow>> {
    conn.prepare_cached("SELECT rowid, space_id, updated_at FROM entries WHERE id = ?1")?
        .query_row([id.to_string()], |r| {
            Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })
        .optional()?
        .map(|(rowid, s, updated_at)| {
            Ok(EntryRow {
                rowid,
                space: s.parse().map_err(|_| corrupt())?,
                updated_at,
            })
        })
        .transpose()
}

/// Entries whose id starts with `prefix` (for short ids typed at a prompt).
pub(crate) fn ids_with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM entries WHERE id >= ?1 AND id < ?1 || char(127) ORDER BY id LIMIT 2",
    )?;
    let rows = stmt.query_map([prefix.to_ascii_lowercase()], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
}

pub(crate) fn clear(conn: &Connection) -> Result<()> {
    conn.execute_batch("DELETE FROM entry_tags; DELETE FROM entries_fts; DELETE FROM entries;")?;
    Ok(())
}

const SUMMARY_COLUMNS: &str = "e.id, e.space_id, e.kind, e.author, e.title, e.excerpt,
    e.created_at, e.updated_at, e.deleted_at, e.reaction_count, e.reply_count, e.mood, e.closeness,
    (SELECT group_concat(tag, char(31)) FROM entry_tags t WHERE t.entry = e.rowid),
    e.answer_state";

fn corrupt() -> Error {
    Error::CorruptData("malformed index row".into())
}

fn summary(r: &rusqlite::Row<'_>) -> Result<EntrySummary> {
    let mut tags: Vec<String> = r
        .get::<_, Option<String>>(13)?
        .map(|t| t.split(TAG_SEP).map(str::to_string).collect())
        .unwrap_or_default();
    tags.sort();
    Ok(EntrySummary {
        id: r.get::<_, String>(0)?.parse().map_err(|_| corrupt())?,
        journal: r.get::<_, String>(1)?.parse().map_err(|_| corrupt())?,
        kind: EntryKind::parse(&r.get::<_, String>(2)?).map_err(|_| corrupt())?,
        author: r.get::<_, String>(3)?.parse().map_err(|_| corrupt())?,
        title: r.get(4)?,
        excerpt: r.get(5)?,
        tags,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        deleted: r.get::<_, Option<i64>>(8)?.is_some(),
        reaction_count: r.get(9)?,
        reply_count: r.get(10)?,
        mood: r.get(11)?,
        closeness: r.get(12)?,
        sealed: r.get::<_, i64>(14)? == crate::store::answers::SEALED_HERE,
    })
}

fn parse_cursor(c: &str) -> Result<(Millis, String)> {
    let bad = || Error::invalid("cursor", "not a cursor returned by a previous page");
    let (t, id) = c.split_once(':').ok_or_else(bad)?;
    let t: Millis = t.parse().map_err(|_| bad())?;
    let id: EntryId = id.parse().map_err(|_| bad())?;
    Ok((t, id.to_string()))
}

pub(crate) fn list(conn: &Connection, q: &EntryQuery) -> Result<EntryPage> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM entries e WHERE 1 = 1");
    let mut args: Vec<SqlValue> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: SqlValue| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(j) = &q.journal {
        arg(
            &mut sql,
            " AND e.space_id = ?",
            SqlValue::Text(j.to_string()),
        );
    }
    if let Some(k) = q.kind {
        arg(
            &mut sql,
            " AND e.kind = ?",
            SqlValue::Text(k.as_str().into()),
        );
    }
    if let Some(a) = &q.author {
        arg(&mut sql, " AND e.author = ?", SqlValue::Text(a.to_string()));
    }
    if let Some(t) = &q.tag {
        arg(
            &mut sql,
            " AND e.rowid IN (SELECT entry FROM entry_tags WHERE tag = ?)",
            SqlValue::Text(t.trim().to_string()),
        );
    }
    if let Some(from) = q.from {
        arg(&mut sql, " AND e.created_at >= ?", SqlValue::Integer(from));
    }
    if let Some(to) = q.to {
        arg(&mut sql, " AND e.created_at < ?", SqlValue::Integer(to));
    }
    sql.push_str(if q.trash {
        " AND e.deleted_at IS NOT NULL"
    } else {
        " AND e.deleted_at IS NULL"
    });
    if let Some(c) = &q.cursor {
        let (t, id) = parse_cursor(c)?;
        args.push(SqlValue::Integer(t));
        let n = args.len();
        args.push(SqlValue::Text(id));
        sql.push_str(&format!(
            " AND (e.created_at < ?{n} OR (e.created_at = ?{n} AND e.id < ?{}))",
            n + 1
        ));
    }
    args.push(SqlValue::Integer(limit as i64 + 1));
    sql.push_str(&format!(
        " ORDER BY e.created_at DESC, e.id DESC LIMIT ?{}",
        args.len()
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut items = collect_rows(&mut stmt, rusqlite::params_from_iter(args), summary)?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|e| format!("{}:{}", e.created_at, e.id))
    } else {
        None
    };
    Ok(EntryPage { items, next })
}

/// Words from a person's query, each quoted so FTS5 syntax in user input can't fail; the
/// last word also matches as a prefix, so search-as-you-type works.
fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split_whitespace()
        .map(|w| w.replace('"', ""))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    let last = words.len().checked_sub(1)?;
    Some(
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == last {
                    format!("{w}*")
                } else {
                    w.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

pub(crate) fn search(
    conn: &Connection,
    query: &str,
    journal: Option<&SpaceId>,
    limit: u32,
) -> Result<Vec<SearchHit>> {
    let Some(m) = fts_query(query) else {
        return Err(Error::invalid("query", "must contain a word"));
    };
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, snippet(entries_fts, -1, '[', ']', '…', 16)
         FROM entries_fts JOIN entries e ON e.rowid = entries_fts.rowid
         WHERE entries_fts MATCH ?1 AND (?2 IS NULL OR e.space_id = ?2) AND e.deleted_at IS NULL
         ORDER BY rank LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    collect_rows(
        &mut stmt,
        params![m, journal.map(|j| j.to_string()), limit],
        |r| {
            Ok(SearchHit {
                entry: summary(r)?,
                snippet: r.get(15)?,
            })
        },
    )
}

/// One (member, week) bucket of check-ins.
pub(crate) struct WeekRow {
    pub member: MemberId,
    pub week: String,
    pub count: u32,
    pub mood: f64,
    pub closeness: f64,
}

pub(crate) fn checkin_weeks(conn: &Connection, space: &SpaceId) -> Result<Vec<WeekRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT author, date(created_at / 1000, 'unixepoch', 'weekday 0', '-6 days') AS week,
                count(*), avg(mood), avg(closeness)
         FROM entries
         WHERE space_id = ?1 AND kind = 'check_in' AND deleted_at IS NULL
           AND mood BETWEEN 1 AND 5 AND closeness BETWEEN 1 AND 5
         GROUP BY author, week ORDER BY author, week",
    )?;
    collect_rows(&mut stmt, [space.to_string()], |r| {
        Ok(WeekRow {
            member: r.get::<_, String>(0)?.parse().map_err(|_| corrupt())?,
            week: r.get(1)?,
            count: r.get(2)?,
            mood: r.get(3)?,
            closeness: r.get(4)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn fts_query_quotes_words_and_prefixes_the_last() {
        assert_eq!(
            fts_query("sunday walk").as_deref(),
            Some("\"sunday\" \"walk\"*")
        );
        assert_eq!(fts_query("a\"b OR").as_deref(), Some("\"ab\" \"OR\"*"));
        assert_eq!(fts_query("   "), None);
    }
}
