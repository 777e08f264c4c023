//! Check-ins and what the journal tells about itself: `checkin`, `trends`, `prompt`,
//! `search`, `history`, `conflicts`.

use std::fmt::Write as _;

use duet_core::clock::rfc3339;
use duet_core::{CheckIn, Duet, Error, Result};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::entries::{entry_report, full_json, read_body};
use crate::args::{AnswerArgs, CheckinArgs};
use crate::output::{Report, summary_json, summary_line, to_json};
use crate::resolve::{self, Names};

pub fn checkin(duet: &Duet, a: CheckinArgs) -> Result<Report> {
    let journal = resolve::journal(duet, &a.journal)?;
    let id = duet.check_in(
        &journal.id,
        CheckIn {
            mood: a.mood,
            closeness: a.closeness,
            needs: a.needs.unwrap_or_default(),
            gratitude: a.gratitude.unwrap_or_default(),
        },
    )?;
    let entry = duet.get_entry(&id)?;
    let names = Names::load(duet)?;
    let text = format!(
        "Checked in to “{}”: mood {}/5, closeness {}/5. Thank you for checking in.\nid: {}",
        journal.title, a.mood, a.closeness, entry.id
    );
    Ok(Report::new(full_json(duet, &entry, &names)?, text))
}

pub fn trends(duet: &Duet, journal: &str) -> Result<Report> {
    let journal = resolve::journal(duet, journal)?;
    let trends = duet.trends(&journal.id)?;
    let mut text = String::new();
    if trends.members.is_empty() {
        let _ = writeln!(
            text,
            "No check-ins in “{}” yet: duet checkin --journal … --mood N --closeness N",
            journal.title
        );
    }
    for m in &trends.members {
        let count: u32 = m.weeks.iter().map(|w| w.check_ins).sum();
        let _ = writeln!(
            text,
            "{}: average mood {:.2}, closeness {:.2} over {count} check-in(s){}",
            m.name,
            m.average_mood,
            m.average_closeness,
            change_note(m.mood_change, m.closeness_change)
        );
        for w in &m.weeks {
            let _ = writeln!(
                text,
                "  week of {}  mood {:.2}  closeness {:.2}  ({} check-in(s))",
                w.week, w.mood, w.closeness, w.check_ins
            );
        }
    }
    Ok(Report::new(to_json(&trends)?, text))
}

fn change_note(mood: Option<f64>, closeness: Option<f64>) -> String {
    match (mood, closeness) {
        (Some(m), Some(c)) => format!("; lately mood {m:+.2}, closeness {c:+.2}"),
        _ => String::new(),
    }
}

pub fn prompt(duet: &Duet, journal: &str) -> Result<Report> {
    let journal = resolve::journal(duet, journal)?;
    let p = duet.prompt_of_the_day(&journal.id)?;
    // The prompt's own fields (id, practice, text), plus its journal and practice label.
    let mut json = to_json(p)?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("journal".into(), json!(journal.id));
        obj.insert("practice_label".into(), json!(p.practice.label()));
    }
    let text = format!(
        "Today's prompt ({}):\n\n  {}\n\nAnswer it (sealed until your partner answers too): \
         duet prompt answer --journal {} --body \"…\"",
        p.practice.label(),
        p.text,
        journal.id,
    );
    Ok(Report::new(json, text))
}

/// `prompt answer`: a sealed answer to today's prompt (or `--prompt ID`).
pub fn answer(duet: &Duet, a: AnswerArgs) -> Result<Report> {
    let journal = resolve::journal(duet, &a.journal)?;
    let body = read_body(&a.body)?.unwrap_or_default();
    if body.trim().is_empty() {
        return Err(Error::InvalidInput {
            field: "body",
            reason: "write your answer: give --body or --body-file".into(),
        });
    }
    let title = a.title.unwrap_or_default();
    let id = duet.answer_prompt(&journal.id, a.prompt.as_deref(), &title, &body)?;
    let entry = duet.get_entry(&id)?;
    let names = Names::load(duet)?;
    let prompt = entry
        .prompt_id
        .as_deref()
        .and_then(duet_core::prompts::by_id)
        .map(|p| format!(" “{}”", p.text))
        .unwrap_or_default();
    let text = format!(
        "Answered{prompt} in “{}”.\nSealed: your partner reads it once they have answered this \
         prompt too (or reveal it now with `duet prompt reveal {id}`); sync to send it.\nid: {id}",
        journal.title
    );
    Ok(Report::new(full_json(duet, &entry, &names)?, text))
}

/// `prompt reveal ID`: my sealed answer, revealed before my partner answered.
pub fn reveal(rt: &Runtime, duet: &Duet, id: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    rt.block_on(duet.reveal_answer(&id))?;
    entry_report(
        duet,
        &id,
        Some("Revealed: your partner reads your answer at their next sync.".into()),
    )
}

pub fn search(duet: &Duet, query: &str, journal: Option<&str>, limit: u32) -> Result<Report> {
    let journal = journal.map(|j| resolve::journal(duet, j)).transpose()?;
    let hits = duet.search(query, journal.as_ref().map(|j| &j.id), limit)?;
    let names = Names::load(duet)?;
    let mut text = String::new();
    if hits.is_empty() {
        let _ = writeln!(text, "Nothing found.");
    }
    let mut items = Vec::with_capacity(hits.len());
    for h in &hits {
        let _ = writeln!(text, "{}", summary_line(&h.entry, &names));
        let _ = writeln!(text, "    {}", h.snippet.replace('\n', " "));
        items.push(json!({
            "entry": summary_json(&h.entry, &names)?,
            "snippet": h.snippet,
        }));
    }
    let json = json!({
        "query": query,
        "journal": journal.map(|j| j.id),
        "hits": items,
    });
    Ok(Report::new(json, text))
}

pub fn history(duet: &Duet, id: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    let items = duet.history(&id)?;
    let names = Names::load(duet)?;
    let mut text = String::new();
    let mut json_items = Vec::with_capacity(items.len());
    for h in &items {
        let who = h
            .member
            .map(|m| names.member(&m))
            .unwrap_or_else(|| "someone".into());
        let device: String = h.device.to_string().chars().take(8).collect();
        let when = if h.from == h.to {
            rfc3339(h.from)
        } else {
            format!("{} – {}", rfc3339(h.from), rfc3339(h.to))
        };
        let _ = writeln!(
            text,
            "{when}  {who} (device {device})  {} change(s)",
            h.changes
        );
        let mut v = to_json(h)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("from_rfc3339".into(), json!(rfc3339(h.from)));
            obj.insert("to_rfc3339".into(), json!(rfc3339(h.to)));
            obj.insert(
                "member_name".into(),
                json!(h.member.map(|m| names.member(&m))),
            );
        }
        json_items.push(v);
    }
    Ok(Report::new(
        json!({ "entry": id, "history": json_items }),
        text,
    ))
}

pub fn conflicts(duet: &Duet, id: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    let conflicts = duet.conflicts(&id)?;
    let names = Names::load(duet)?;
    let mut text = String::new();
    if conflicts.is_empty() {
        let _ = writeln!(text, "No conflicting changes: every field has one value.");
    }
    for c in &conflicts {
        let sides: Vec<String> = c
            .values
            .iter()
            .map(|v| {
                let who = v
                    .member
                    .map(|m| names.member(&m))
                    .unwrap_or_else(|| "someone".into());
                let shown = if v.winner { " (shown)" } else { "" };
                format!("{who} set {}{shown}", compact(&v.value))
            })
            .collect();
        let _ = writeln!(text, "{}: {}", c.field, sides.join("; "));
    }
    Ok(Report::new(
        json!({ "entry": id, "conflicts": to_json(&conflicts)? }),
        text,
    ))
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
