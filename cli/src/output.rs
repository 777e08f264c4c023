//! What a command prints: one JSON document with `--json`, friendly text otherwise. Also
//! the shared JSON and text forms of entries, so every command shows them alike.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use duet_core::clock::rfc3339;
use duet_core::{Entry, EntrySummary, Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::resolve::Names;

/// A command's result in both forms; `main` prints the one asked for.
#[derive(Debug)]
pub struct Report {
    pub json: Value,
    pub text: String,
}

impl Report {
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
        }
    }

    /// Nothing more to print (the command printed as it went, like `watch`).
    pub fn empty() -> Self {
        Self::new(Value::Null, "")
    }

    pub fn print(&self, as_json: bool) -> Result<()> {
        if self.json.is_null() && self.text.is_empty() {
            return Ok(());
        }
        let mut out = if as_json {
            serde_json::to_string_pretty(&self.json)
                .map_err(|e| Error::Internal(format!("json output: {e}")))?
        } else {
            self.text.clone()
        };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        write_stdout(out.as_bytes())
    }
}

/// Write to stdout; a reader that went away (`duet ... | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(source) => Err(Error::Io {
            path: "stdout".into(),
            source,
        }),
        Ok(()) => Ok(()),
    }
}

/// Any serializable core value as JSON.
pub fn to_json<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("json output: {e}")))
}

/// Add `<key>_rfc3339` next to a millisecond time field.
pub fn add_rfc3339(obj: &mut Map<String, Value>, key: &str) {
    if let Some(ms) = obj.get(key).and_then(Value::as_i64) {
        obj.insert(format!("{key}_rfc3339"), Value::String(rfc3339(ms)));
    }
}

/// An entry as JSON: every field of [`Entry`] (times in ms), plus RFC 3339 companions,
/// the author's name and the journal's title.
pub fn entry_json(entry: &Entry, names: &Names) -> Result<Value> {
    let mut v = to_json(entry)?;
    if let Value::Object(obj) = &mut v {
        for key in ["created_at", "updated_at", "deleted_at"] {
            add_rfc3339(obj, key);
        }
        obj.insert("author_name".into(), names.member(&entry.author).into());
        obj.insert("journal_title".into(), names.journal(&entry.journal).into());
        if let Some(Value::Array(replies)) = obj.get_mut("replies") {
            for (reply, rv) in entry.replies.iter().zip(replies.iter_mut()) {
                if let Value::Object(r) = rv {
                    add_rfc3339(r, "created_at");
                    r.insert("author_name".into(), names.member(&reply.author).into());
                }
            }
        }
        if let Some(Value::Array(reactions)) = obj.get_mut("reactions") {
            for (reaction, rv) in entry.reactions.iter().zip(reactions.iter_mut()) {
                if let Value::Object(r) = rv {
                    r.insert("member_name".into(), names.member(&reaction.member).into());
                }
            }
        }
    }
    Ok(v)
}

/// A listed entry as JSON, with the same companions as [`entry_json`].
pub fn summary_json(s: &EntrySummary, names: &Names) -> Result<Value> {
    let mut v = to_json(s)?;
    if let Value::Object(obj) = &mut v {
        add_rfc3339(obj, "created_at");
        add_rfc3339(obj, "updated_at");
        obj.insert("author_name".into(), names.member(&s.author).into());
        obj.insert("journal_title".into(), names.journal(&s.journal).into());
    }
    Ok(v)
}

/// How an entry is named in a sentence: “its title”, else "this `<kind>`".
pub fn label(title: &str, kind: duet_core::EntryKind) -> String {
    let title = title.trim();
    if title.is_empty() {
        format!("this {}", kind.words())
    } else {
        format!("“{title}”")
    }
}

/// An entry in full, for people.
pub fn entry_text(e: &Entry, names: &Names) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}", e.heading());
    let _ = writeln!(
        t,
        "{} · by {} · {} · in {}",
        e.kind,
        names.member(&e.author),
        rfc3339(e.created_at),
        names.journal(&e.journal)
    );
    let _ = writeln!(t, "id: {}", e.id);
    if e.updated_at != e.created_at {
        let _ = writeln!(t, "updated: {}", rfc3339(e.updated_at));
    }
    if !e.tags.is_empty() {
        let tags: Vec<String> = e.tags.iter().map(|t| format!("#{t}")).collect();
        let _ = writeln!(t, "tags: {}", tags.join(" "));
    }
    if let Some(p) = e.prompt_id.as_deref().and_then(duet_core::prompts::by_id) {
        let _ = writeln!(t, "prompt: {}", p.text);
    }
    if let Some(at) = e.deleted_at {
        let _ = writeln!(
            t,
            "in the trash since {} (duet entry restore {})",
            rfc3339(at),
            e.id
        );
    }
    if let Some(shared) = e.shared_as {
        let _ = writeln!(t, "shared as entry {shared}");
    }
    if let Some(ci) = &e.check_in {
        let _ = writeln!(t, "\nmood {}/5 · closeness {}/5", ci.mood, ci.closeness);
        if !ci.needs.is_empty() {
            let _ = writeln!(t, "needs: {}", ci.needs);
        }
        if !ci.gratitude.is_empty() {
            let _ = writeln!(t, "grateful for: {}", ci.gratitude);
        }
    }
    if e.sealed {
        let _ = writeln!(
            t,
            "\nsealed: {} answered this prompt; you read it once you answer it too \
             (duet prompt answer --journal {}{} --body \"…\")",
            names.member(&e.author),
            e.journal,
            e.prompt_id
                .as_deref()
                .map(|p| format!(" --prompt {p}"))
                .unwrap_or_default()
        );
    }
    if !e.body.is_empty() {
        let _ = writeln!(t, "\n{}", e.body.trim_end());
    }
    if let Some(c) = &e.conflict {
        for (m, p) in c.perspectives.iter().filter(|(_, p)| !p.is_empty()) {
            let _ = writeln!(t, "\n{}'s perspective: {p}", names.member(m));
        }
        if !c.agreement.is_empty() {
            let _ = writeln!(t, "\nwhat we agreed: {}", c.agreement);
        }
    }
    if !e.reactions.is_empty() {
        let r: Vec<String> = e
            .reactions
            .iter()
            .map(|r| format!("{} {}", names.member(&r.member), r.emoji))
            .collect();
        let _ = writeln!(t, "\nreactions: {}", r.join(", "));
    }
    let replies: Vec<_> = e.replies.iter().filter(|r| !r.deleted).collect();
    if !replies.is_empty() {
        let _ = writeln!(t, "\nreplies:");
        for r in replies {
            let _ = writeln!(
                t,
                "  {} ({}): {}",
                names.member(&r.author),
                rfc3339(r.created_at),
                r.body
            );
        }
    }
    t
}

/// One line per listed entry, for people.
pub fn summary_line(s: &EntrySummary, names: &Names) -> String {
    let mut what = if s.title.trim().is_empty() {
        s.excerpt.lines().next().unwrap_or_default().to_string()
    } else {
        s.title.clone()
    };
    if let (Some(m), Some(c)) = (s.mood, s.closeness) {
        what = format!("mood {m}/5 · closeness {c}/5 {what}");
    }
    if s.sealed {
        what = "(sealed until you answer this prompt too)".into();
    }
    let mut extras = Vec::new();
    if s.reaction_count > 0 {
        extras.push(format!("{} reaction(s)", s.reaction_count));
    }
    if s.reply_count > 0 {
        extras.push(format!("{} repl{}", s.reply_count, plural_y(s.reply_count)));
    }
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!("  [{}]", extras.join(", "))
    };
    format!(
        "{}  {}  {:<13} {:<12} {}{extras}",
        s.id,
        rfc3339(s.created_at),
        s.kind.as_str(),
        names.member(&s.author),
        what.trim()
    )
}

fn plural_y(n: u32) -> &'static str {
    if n == 1 { "y" } else { "ies" }
}

/// Write a file whole or not at all: a temporary sibling renamed into place, so an
/// interrupted export never leaves half a bundle where a good one was.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput {
            field: "out",
            reason: format!("{} is not a file name", path.display()),
        })?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}
