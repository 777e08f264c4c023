//! `entry new|edit|show|list|delete|restore`.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use duet_core::limits::{MAX_BODY_CHARS, MAX_TITLE_CHARS};
use duet_core::{
    Duet, Entry, EntryId, EntryKind, EntryQuery, Error, NewEntry, Result, SpaceKind, TextField,
};
use serde_json::json;

use crate::args::{BodyArgs, EditEntryArgs, ListEntriesArgs, NewEntryArgs};
use crate::output::{Report, entry_json, entry_text, label, summary_json, summary_line};
use crate::resolve::{self, Names};

pub fn new(duet: &Duet, a: NewEntryArgs) -> Result<Report> {
    let journal = resolve::journal(duet, &a.journal)?;
    let kind = match (&a.kind, &a.prompt) {
        (Some(k), _) => EntryKind::parse(k)?,
        (None, Some(_)) => EntryKind::PromptAnswer,
        (None, None) => EntryKind::Reflection,
    };
    if kind == EntryKind::CheckIn {
        // Scores are required and have their own command with named flags.
        return Err(Error::InvalidInput {
            field: "kind",
            reason: "record check-ins with `duet checkin --journal J --mood N --closeness N`"
                .into(),
        });
    }
    let body = read_body(&a.body)?.unwrap_or_default();
    let title = a.title.unwrap_or_default();
    let perspective = a.perspective.filter(|p| !p.trim().is_empty());
    if title.trim().is_empty() && body.trim().is_empty() && perspective.is_none() {
        return Err(Error::InvalidInput {
            field: "entry",
            reason: "write something: give --title, --body or --body-file".into(),
        });
    }
    let id = duet.create_entry(
        &journal.id,
        NewEntry {
            kind: Some(kind),
            title,
            body,
            tags: a.tags,
            prompt_id: a.prompt,
            check_in: None,
            perspective,
        },
    )?;
    let entry = duet.get_entry(&id)?;
    let names = Names::load(duet)?;
    let place = match journal.kind {
        SpaceKind::Personal => {
            "your private drafts; share it when you're ready with `duet share`".to_string()
        }
        SpaceKind::Journal => format!("“{}”", journal.title),
    };
    let what = entry.kind.words();
    let text = match entry.title.trim() {
        "" => format!("Wrote a new {what} in {place}.\nid: {}", entry.id),
        t => format!("Wrote a new {what}, “{t}”, in {place}.\nid: {}", entry.id),
    };
    Ok(Report::new(full_json(duet, &entry, &names)?, text))
}

pub fn edit(duet: &Duet, a: EditEntryArgs) -> Result<Report> {
    let id = resolve::entry(duet, &a.id)?;
    let body = read_body(&a.body)?;
    let edits = [
        (TextField::Title, a.title),
        (TextField::Body, body),
        (TextField::MyPerspective, a.perspective),
        (TextField::Agreement, a.agreement),
    ];
    if edits.iter().all(|(_, v)| v.is_none()) {
        return Err(Error::InvalidInput {
            field: "edit",
            reason:
                "nothing to change: give --title, --body, --body-file, --perspective or --agreement"
                    .into(),
        });
    }
    // Refuse what the engine would refuse before writing anything, so one command never
    // saves half of its edits (each field is its own durable write).
    let entry = duet.get_entry(&id)?;
    for (field, value) in &edits {
        let Some(text) = value else { continue };
        let (name, max) = match field {
            TextField::Title => ("title", MAX_TITLE_CHARS),
            TextField::MyPerspective => ("perspective", MAX_BODY_CHARS),
            TextField::Agreement => ("agreement", MAX_BODY_CHARS),
            _ => ("body", MAX_BODY_CHARS),
        };
        if text.chars().count() > max {
            return Err(Error::InvalidInput {
                field: name,
                reason: format!("longer than {max} characters"),
            });
        }
        let conflict_only = matches!(field, TextField::MyPerspective | TextField::Agreement);
        if conflict_only && entry.kind != EntryKind::Conflict {
            return Err(Error::InvalidInput {
                field: name,
                reason: "only conflict entries have perspectives and agreements".into(),
            });
        }
    }
    for (field, value) in edits {
        if let Some(text) = value {
            // The full new text; the engine applies only the minimal splices.
            duet.set_text(&id, field, &text)?;
        }
    }
    let entry = duet.get_entry(&id)?;
    let names = Names::load(duet)?;
    let text = format!("Saved {}.", label(&entry.title, entry.kind));
    Ok(Report::new(full_json(duet, &entry, &names)?, text))
}

pub fn show(duet: &Duet, id: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    entry_report(duet, &id, None)
}

pub fn list(duet: &Duet, a: ListEntriesArgs) -> Result<Report> {
    let journal = resolve::journal(duet, &a.journal)?;
    let kind = a.kind.as_deref().map(EntryKind::parse).transpose()?;
    let author = a
        .author
        .as_deref()
        .map(|m| resolve::member(duet, &journal, m))
        .transpose()?;
    let page = duet.list_entries(&EntryQuery {
        journal: Some(journal.id),
        kind,
        author,
        tag: a.tag,
        trash: a.trash,
        limit: a.limit,
        cursor: a.cursor,
        ..EntryQuery::default()
    })?;
    let names = Names::load(duet)?;
    let mut text = String::new();
    if page.items.is_empty() {
        let what = if a.trash {
            "The trash is empty"
        } else {
            "No entries"
        };
        let _ = writeln!(text, "{what} in “{}”.", journal.title);
    }
    for s in &page.items {
        let _ = writeln!(text, "{}", summary_line(s, &names));
    }
    if let Some(next) = &page.next {
        let _ = writeln!(text, "more: add --cursor {next}");
    }
    let items = page
        .items
        .iter()
        .map(|s| summary_json(s, &names))
        .collect::<Result<Vec<_>>>()?;
    let json = json!({
        "journal": journal.id,
        "trash": a.trash,
        "entries": items,
        "next": page.next,
    });
    Ok(Report::new(json, text))
}

pub fn delete(duet: &Duet, id: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    duet.delete_entry(&id)?;
    entry_report(
        duet,
        &id,
        Some(format!(
            "Moved to the trash; nothing is lost. Bring it back with: duet entry restore {id}"
        )),
    )
}

pub fn restore(duet: &Duet, id: &str) -> Result<Report> {
    let id = resolve::entry(duet, id)?;
    duet.restore_entry(&id)?;
    entry_report(duet, &id, Some("Restored from the trash.".into()))
}

/// The entry as JSON; as text, `message` if given, else the entry in full.
pub fn entry_report(duet: &Duet, id: &EntryId, message: Option<String>) -> Result<Report> {
    let entry = duet.get_entry(id)?;
    let names = Names::load(duet)?;
    let mut text = message.unwrap_or_else(|| entry_text(&entry, &names));
    let attachments = duet.attachments(id)?;
    if !attachments.is_empty() {
        let _ = write!(
            text,
            "\n{} attachment(s): `duet attachments {}`",
            attachments.len(),
            entry.id
        );
    }
    Ok(Report::new(full_json(duet, &entry, &names)?, text))
}

/// An entry as every command prints it: [`entry_json`] and its `attachments`.
pub(super) fn full_json(duet: &Duet, entry: &Entry, names: &Names) -> Result<serde_json::Value> {
    let mut json = entry_json(entry, names)?;
    if let serde_json::Value::Object(o) = &mut json {
        let attachments = duet.attachments(&entry.id)?;
        o.insert(
            "attachments".into(),
            super::attachments::list_json(&attachments)?,
        );
    }
    Ok(json)
}

/// The body from `--body`, or the file `--body-file` names (`-`: stdin).
pub(super) fn read_body(a: &BodyArgs) -> Result<Option<String>> {
    match (&a.body, &a.body_file) {
        (Some(body), _) => Ok(Some(body.clone())),
        (None, Some(path)) => read_text(path).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_text(path: &Path) -> Result<String> {
    let (shown, reader): (String, Box<dyn std::io::Read>) = if path == Path::new("-") {
        ("stdin".into(), Box::new(std::io::stdin().lock()))
    } else {
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        (path.display().to_string(), Box::new(file))
    };
    // Read no more than the longest body could take (4 bytes a character), so a wrong
    // file can't fill memory before the engine's own length check refuses it.
    let cap = (MAX_BODY_CHARS as u64) * 4;
    let mut bytes = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: shown.clone(),
            source,
        })?;
    if bytes.len() as u64 > cap {
        return Err(Error::InvalidInput {
            field: "body",
            reason: format!("{shown} is longer than {MAX_BODY_CHARS} characters"),
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::InvalidInput {
        field: "body",
        reason: format!("{shown} is not UTF-8 text"),
    })
}
