//! `journal create` and `journal list`.

use std::fmt::Write as _;

use duet_core::clock::rfc3339;
use duet_core::{Duet, Journal, Result, SpaceKind};
use serde_json::{Value, json};

use crate::output::{Report, to_json};

pub fn create(duet: &Duet, title: &str) -> Result<Report> {
    let id = duet.create_journal(title)?;
    let journal = duet.journal(&id)?;
    let text = format!(
        "Created the journal “{}” ({}).\nWrite in it with: duet entry new --journal {} --body \"…\"",
        journal.title, journal.id, journal.id
    );
    Ok(Report::new(journal_json(&journal)?, text))
}

pub fn list(duet: &Duet) -> Result<Report> {
    let journals = duet.journals()?;
    let mut text = String::new();
    for j in &journals {
        let who: Vec<&str> = j.members.iter().map(|m| m.name.as_str()).collect();
        let what = match j.kind {
            SpaceKind::Personal => "your private drafts (`personal`)".to_string(),
            SpaceKind::Journal => who.join(" & "),
        };
        let _ = writeln!(text, "{}  {}  — {what}", j.id, j.title);
    }
    if journals.len() <= 1 {
        text.push_str("No shared journal yet: duet journal create --title \"Our journal\"\n");
    }
    let items = journals
        .iter()
        .map(journal_json)
        .collect::<Result<Vec<Value>>>()?;
    Ok(Report::new(json!({ "journals": items }), text))
}

/// A journal as JSON: the core's fields plus `created_at_rfc3339`.
pub fn journal_json(j: &Journal) -> Result<Value> {
    let mut v = to_json(j)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("created_at_rfc3339".into(), json!(rfc3339(j.created_at)));
    }
    Ok(v)
}
