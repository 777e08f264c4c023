//! What the journal tells the couple about itself: check-in trends, an entry's history,
//! concurrent conflicts, the prompt of the day. Plus index maintenance.

use super::Duet;
use crate::doc::entry as edoc;
use crate::error::{Error, Result};
use crate::ids::{EntryId, SpaceId};
use crate::model::*;
use crate::prompts::{self, Prompt};
use crate::store::{self, index};

/// Edits by one device closer together than this are one history item ("a session").
const SESSION_GAP_MS: i64 = 10 * 60 * 1000;
pub(super) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Duet {
    /// Who changed an entry, and when, grouped into editing sessions, oldest first.
    pub fn history(&self, entry: &EntryId) -> Result<Vec<HistoryItem>> {
        let members = self.device_members()?;
        self.read(|tx| {
            let d = tx.entry_ref(entry)?;
            let changes = edoc::changes(tx.doc(d.rowid)?);
            let mut out: Vec<HistoryItem> = Vec::new();
            for (device, at) in changes {
                let Some(device) = device else { continue };
                match out.last_mut() {
                    Some(last)
                        if last.device == device
                            && at - last.to <= SESSION_GAP_MS
                            && at >= last.from =>
                    {
                        last.to = at;
                        last.changes += 1;
                    }
                    _ => out.push(HistoryItem {
                        member: members.get(&device).copied(),
                        device,
                        from: at,
                        to: at,
                        changes: 1,
                    }),
                }
            }
            Ok(out)
        })
    }

    /// Fields of an entry that both partners set at once, with every value and who wrote
    /// it; the entry shows the deterministic winner until someone sets the field again.
    pub fn conflicts(&self, entry: &EntryId) -> Result<Vec<FieldConflict>> {
        let members = self.device_members()?;
        self.read(|tx| {
            let d = tx.entry_ref(entry)?;
            Ok(edoc::conflicts(tx.doc(d.rowid)?, &|dev| {
                members.get(dev).copied()
            }))
        })
    }

    /// Weekly check-in series per partner, from the index.
    pub fn trends(&self, journal: &SpaceId) -> Result<Trends> {
        let j = self.journal(journal)?;
        let rows = index::checkin_weeks(&self.lock().conn, journal)?;
        let mut members: Vec<MemberTrend> = Vec::new();
        for r in rows {
            if members.last().map(|m| m.member) != Some(r.member) {
                let name = j
                    .members
                    .iter()
                    .find(|m| m.id == r.member)
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                members.push(MemberTrend {
                    member: r.member,
                    name,
                    weeks: Vec::new(),
                    average_mood: 0.0,
                    average_closeness: 0.0,
                    mood_change: None,
                    closeness_change: None,
                });
            }
            if let Some(m) = members.last_mut() {
                m.weeks.push(TrendPoint {
                    week: r.week,
                    check_ins: r.count,
                    mood: round2(r.mood),
                    closeness: round2(r.closeness),
                });
            }
        }
        for m in &mut members {
            m.average_mood = average(&m.weeks, |w| w.mood);
            m.average_closeness = average(&m.weeks, |w| w.closeness);
            m.mood_change = change(&m.weeks, |w| w.mood);
            m.closeness_change = change(&m.weeks, |w| w.closeness);
        }
        Ok(Trends {
            journal: *journal,
            members,
        })
    }

    /// Today's prompt for a journal: the same on both partners' phones (days in UTC).
    pub fn prompt_of_the_day(&self, journal: &SpaceId) -> Result<&'static Prompt> {
        let j = self.journal(journal)?;
        let day = self.now().div_euclid(DAY_MS);
        Ok(prompts::prompt_of_the_day(j.id.as_bytes(), day))
    }

    /// Rebuild the entries index and full-text index from the documents.
    pub fn rebuild_index(&self) -> Result<u32> {
        self.write(|tx| {
            index::clear(&tx.sql)?;
            let mut n = 0;
            for s in store::spaces(&tx.sql)? {
                for (rowid, id, kind) in store::space_docs(&tx.sql, &s.id)? {
                    if kind != "entry" {
                        continue;
                    }
                    // The newest of all changes, as the index keeps it (see remote.rs):
                    // with skewed clocks a head can be older than a change before it.
                    let updated = edoc::changes(tx.doc(rowid)?)
                        .into_iter()
                        .map(|(_, at)| at)
                        .max()
                        .unwrap_or(0);
                    tx.reindex(rowid, &EntryId(id), &s.id, updated, true)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Fold every document's chunks into its snapshot.
    pub fn compact(&self) -> Result<()> {
        self.write(|tx| {
            for r in store::chunked_docs(&tx.sql)? {
                tx.compact(r)?;
            }
            Ok(())
        })
    }

    /// Check that a journal exists (used by the CLI before long operations).
    pub fn require_journal(&self, journal: &SpaceId) -> Result<()> {
        let g = self.lock();
        store::space(&g.conn, journal)?
            .map(|_| ())
            .ok_or_else(|| Error::not_found("journal", journal))
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Mean over every check-in: each week's value weighted by its number of check-ins.
fn average(weeks: &[TrendPoint], f: impl Fn(&TrendPoint) -> f64) -> f64 {
    let n: u32 = weeks.iter().map(|w| w.check_ins).sum();
    let total: f64 = weeks.iter().map(|w| f(w) * f64::from(w.check_ins)).sum();
    round2(total / f64::from(n.max(1)))
}

/// Mean of the last k weekly values minus the mean of the k before, k = min(4, n/2).
fn change(weeks: &[TrendPoint], f: impl Fn(&TrendPoint) -> f64) -> Option<f64> {
    let k = (weeks.len() / 2).min(4);
    if k == 0 {
        return None;
    }
    let n = weeks.len();
    let mean = |s: &[TrendPoint]| s.iter().map(&f).sum::<f64>() / s.len() as f64;
    Some(round2(
        mean(&weeks[n - k..]) - mean(&weeks[n - 2 * k..n - k]),
    ))
}
