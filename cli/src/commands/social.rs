//! What partners do with each other's entries: `react`, `reply`, `share` a draft.

use duet_core::{Duet, Error, Result, SpaceKind};
use serde_json::json;

use super::entries::{entry_report, full_json};
use crate::output::{Report, label, to_json};
use crate::resolve::{self, Names};

pub fn react(duet: &Duet, id: &str, emoji: Option<&str>, remove: bool) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    let message = match (remove, emoji) {
        (true, _) => {
            duet.unreact(&id)?;
            "Reaction removed.".to_string()
        }
        (false, Some(emoji)) => {
            duet.react(&id, emoji)?;
            format!("Reacted {}.", emoji.trim())
        }
        (false, None) => {
            return Err(Error::InvalidInput {
                field: "reaction",
                reason: "give an emoji, or --remove".into(),
            });
        }
    };
    entry_report(duet, &id, Some(message))
}

pub fn reply(duet: &Duet, id: &str, text: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    let reply_id = duet.reply(&id, text)?;
    let entry = duet.get_entry(&id)?;
    let names = Names::load(duet)?;
    let reply = entry
        .replies
        .iter()
        .find(|r| r.id == reply_id)
        .ok_or_else(|| Error::Internal("the new reply is missing from its entry".into()))?;
    let mut reply_json = to_json(reply)?;
    if let Some(obj) = reply_json.as_object_mut() {
        obj.insert(
            "created_at_rfc3339".into(),
            json!(duet_core::clock::rfc3339(reply.created_at)),
        );
        obj.insert("author_name".into(), json!(names.member(&reply.author)));
    }
    let text = format!("Replied to {}.", label(&entry.title, entry.kind));
    Ok(Report::new(
        json!({ "reply": reply_json, "entry": full_json(duet, &entry, &names)? }),
        text,
    ))
}

/// Share a private draft: the journal gets a copy of what the draft says now.
pub fn share(duet: &Duet, id: &str, journal: &str) -> Result<Report> {
    let draft_id = resolve::entry(duet, id)?;
    let journal = resolve::journal(duet, journal)?;
    if journal.kind == SpaceKind::Personal {
        return Err(Error::InvalidInput {
            field: "journal",
            reason: "share into a shared journal, not your personal space".into(),
        });
    }
    let shared_id = duet.share_draft(&draft_id, &journal.id)?;
    let draft = duet.get_entry(&draft_id)?;
    let shared = duet.get_entry(&shared_id)?;
    let names = Names::load(duet)?;
    let text = format!(
        "Shared {} into “{}” as {}.\nYour draft stays private; only what it says now was shared.",
        label(&shared.title, shared.kind),
        journal.title,
        shared.id
    );
    Ok(Report::new(
        json!({
            "draft": full_json(duet, &draft, &names)?,
            "entry": full_json(duet, &shared, &names)?,
        }),
        text,
    ))
}
