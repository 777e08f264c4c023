//! A journal for people to keep: Markdown to read, JSON to move elsewhere. Unencrypted by
//! nature: the CLI writes these only where it is told to.

use std::fmt::Write as _;

use serde::Serialize;

use super::Duet;
use super::journals::journal_of;
use crate::attachments::{Attachment, export_path};
use crate::clock::rfc3339;
use crate::doc::entry as edoc;
use crate::error::Result;
use crate::ids::{EntryId, MemberId, SpaceId};
use crate::model::*;
use crate::store;

#[derive(Serialize)]
struct JsonExport {
    format: &'static str,
    exported_at: String,
    journal: Journal,
    entries: Vec<JsonEntry>,
}

/// An entry and its attachments, each with the file it is written to beside the export
/// (`attachments/…`, see [`crate::attachments::export_path`]).
#[derive(Serialize)]
struct JsonEntry {
    #[serde(flatten)]
    entry: Entry,
    attachments: Vec<JsonAttachment>,
}

#[derive(Serialize)]
struct JsonAttachment {
    #[serde(flatten)]
    attachment: Attachment,
    file: String,
}

impl Duet {
    /// Every entry of a journal (trash included), oldest first, read in full.
    pub fn all_entries(&self, journal: &SpaceId) -> Result<Vec<Entry>> {
        Ok(self
            .entries_with_attachments(journal)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// Every attachment of a journal's entries (trash included), oldest entry first.
    pub fn journal_attachments(&self, journal: &SpaceId) -> Result<Vec<Attachment>> {
        Ok(self
            .entries_with_attachments(journal)?
            .into_iter()
            .flat_map(|(_, a)| a)
            .collect())
    }

    fn entries_with_attachments(&self, journal: &SpaceId) -> Result<Vec<(Entry, Vec<Attachment>)>> {
        let downloading = self.downloading();
        self.read(|tx| {
            let mut out = Vec::new();
            for (rowid, id, kind) in store::space_docs(&tx.sql, journal)? {
                if kind != "entry" {
                    continue;
                }
                let id = EntryId(id);
                let updated = store::index::entry_row(&tx.sql, &id)?
                    .map(|r| r.updated_at)
                    .unwrap_or(0);
                // Read from the store, not through the cache (see export_bundle).
                let (snapshot, chunks) = store::doc_bytes(&tx.sql, rowid)?;
                let doc = crate::doc::load_doc(
                    &tx.me.device,
                    snapshot.as_deref(),
                    chunks.iter().map(Vec::as_slice),
                )?;
                let mut e = edoc::read(&doc, id, *journal, updated)?;
                // A sealed answer is exported only where this device can read it.
                if e.sealed
                    && let Some(sealed) = edoc::sealed(&doc)
                    && let Some((title, body)) =
                        super::tx::open_with_held_key(&tx.sql, &sealed, &id, journal)?
                {
                    (e.title, e.body, e.sealed) = (title, body, false);
                }
                let attachments = crate::doc::attachments::list(&doc)
                    .iter()
                    .map(|r| super::attachments::view(&tx.sql, id, r, downloading.contains(&r.id)))
                    .collect::<Result<_>>()?;
                out.push((e, attachments));
            }
            out.sort_by_key(|(e, _)| (e.created_at, e.id));
            Ok(out)
        })
    }

    /// The journal as JSON: `{format, exported_at, journal, entries}`.
    pub fn export_json(&self, journal: &SpaceId) -> Result<String> {
        let j = self.read(|tx| journal_of(tx, journal))?;
        let entries = self
            .entries_with_attachments(journal)?
            .into_iter()
            .map(|(entry, atts)| JsonEntry {
                entry,
                attachments: atts
                    .into_iter()
                    .map(|a| JsonAttachment {
                        file: export_path(&a),
                        attachment: a,
                    })
                    .collect(),
            })
            .collect();
        let out = JsonExport {
            format: "duet-journal-export/1",
            exported_at: rfc3339(self.now()),
            journal: j,
            entries,
        };
        serde_json::to_string_pretty(&out)
            .map_err(|e| crate::Error::Internal(format!("json export: {e}")))
    }

    /// The journal as Markdown, live entries oldest first.
    pub fn export_markdown(&self, journal: &SpaceId) -> Result<String> {
        let j = self.read(|tx| journal_of(tx, journal))?;
        let entries = self.entries_with_attachments(journal)?;
        let name = |m: &MemberId| {
            j.members
                .iter()
                .find(|x| x.id == *m)
                .map(|x| x.name.clone())
                .unwrap_or_else(|| "someone".into())
        };
        let mut md = String::new();
        let _ = writeln!(md, "# {}\n", j.title);
        let names: Vec<String> = j.members.iter().map(|m| m.name.clone()).collect();
        let _ = writeln!(md, "_{}_\n", names.join(" & "));
        for (e, atts) in entries.iter().filter(|(e, _)| !e.deleted) {
            let _ = writeln!(md, "## {}\n", e.heading());
            let _ = writeln!(
                md,
                "*{}* · {} · {}\n",
                e.kind,
                name(&e.author),
                rfc3339(e.created_at)
            );
            if let Some(ci) = &e.check_in {
                let _ = writeln!(md, "- Mood: {}/5\n- Closeness: {}/5", ci.mood, ci.closeness);
                if !ci.needs.is_empty() {
                    let _ = writeln!(md, "- Needs: {}", ci.needs);
                }
                if !ci.gratitude.is_empty() {
                    let _ = writeln!(md, "- Grateful for: {}", ci.gratitude);
                }
                md.push('\n');
            }
            if e.sealed {
                let _ = writeln!(md, "_Sealed until you answer this prompt too._\n");
            }
            if !e.body.is_empty() {
                let _ = writeln!(md, "{}\n", e.body);
            }
            for a in atts {
                // Images show inline; anything else is a link to its file.
                let bang = if a.mime.starts_with("image/") {
                    "!"
                } else {
                    ""
                };
                let _ = writeln!(md, "{bang}[{}](<{}>)\n", a.name, export_path(a));
            }
            if let Some(c) = &e.conflict {
                for (m, p) in c.perspectives.iter().filter(|(_, p)| !p.is_empty()) {
                    let _ = writeln!(md, "**{}'s perspective:** {p}\n", name(m));
                }
                if !c.agreement.is_empty() {
                    let _ = writeln!(md, "**What we agreed:** {}\n", c.agreement);
                }
            }
            if !e.tags.is_empty() {
                let tags: Vec<String> = e.tags.iter().map(|t| format!("#{t}")).collect();
                let _ = writeln!(md, "{}\n", tags.join(" "));
            }
            for r in &e.reactions {
                let _ = writeln!(md, "> {} reacted {}", name(&r.member), r.emoji);
            }
            for r in e.replies.iter().filter(|r| !r.deleted) {
                let _ = writeln!(md, "> **{}:** {}", name(&r.author), r.body);
            }
            md.push('\n');
        }
        Ok(md)
    }
}
