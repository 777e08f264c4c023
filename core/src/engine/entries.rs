//! Writing and reading entries.

use automerge::ReadDoc;
use automerge::transaction::Transactable;

use super::tx::{DocRef, Tx};
use super::{Duet, answers};
use crate::blob::DocKind;
use crate::doc::{self, entry as edoc};
use crate::error::{Error, Result};
use crate::ids::{EntryId, ReplyId, SpaceId};
use crate::limits::{self, MAX_REPLY_CHARS};
use crate::model::*;
use crate::store::{self, index};

impl Duet {
    /// Write a new entry into a journal (or, in the personal space, a private draft).
    pub fn create_entry(&self, journal: &SpaceId, new: NewEntry) -> Result<EntryId> {
        let kind = new.kind.unwrap_or(EntryKind::Reflection);
        validate_new(kind, &new)?;
        let id = EntryId::new();
        self.write(|tx| create_in(tx, journal, kind, &new, id))?;
        Ok(id)
    }

    /// Record a check-in (mood and closeness 1–5, needs, gratitude) in a journal.
    pub fn check_in(&self, journal: &SpaceId, check_in: CheckIn) -> Result<EntryId> {
        self.create_entry(
            journal,
            NewEntry {
                kind: Some(EntryKind::CheckIn),
                check_in: Some(check_in),
                ..NewEntry::default()
            },
        )
    }

    /// Replace a text field with `new_text`, applied as the minimal splices from the
    /// current text (so a partner's concurrent edits elsewhere in the text survive).
    pub fn set_text(&self, entry: &EntryId, field: TextField, new_text: &str) -> Result<()> {
        limits::check_len(field.key(), new_text, field.max_chars())?;
        self.write(|tx| {
            let d = live_entry(tx, entry)?;
            if answers::edit_sealed(tx, d, entry, field, |_| Ok(new_text.to_string()))? {
                return Ok(());
            }
            let me = tx.me.member;
            let (_, changed) = tx.change(d, |doc| {
                let obj = edoc::text_obj(doc, field, &me)?;
                doc::update_text(doc, &obj, new_text)
            })?;
            if changed {
                after_text_edit(tx, d, entry, field, true)?;
            }
            Ok(())
        })
    }

    /// Splice a text field: at `pos` (in characters) delete `delete` characters and insert
    /// `insert`. The keystroke path.
    pub fn splice_text(
        &self,
        entry: &EntryId,
        field: TextField,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<()> {
        self.splice_many(entry, field, &[(pos, delete, insert)])
    }

    /// Several splices applied in order, as one durable write (e.g. a burst of typing).
    pub fn splice_many(
        &self,
        entry: &EntryId,
        field: TextField,
        splices: &[(usize, usize, &str)],
    ) -> Result<()> {
        if splices.is_empty() {
            return Ok(());
        }
        for (_, _, ins) in splices {
            limits::check_len(field.key(), ins, field.max_chars())?;
        }
        self.write(|tx| {
            let d = live_entry(tx, entry)?;
            if answers::edit_sealed(tx, d, entry, field, |old| {
                answers::apply_splices(old, field, splices)
            })? {
                return Ok(());
            }
            let me = tx.me.member;
            let mut excerpt_touched = false;
            let (_, changed) = tx.change(d, |doc| {
                let obj = edoc::text_obj(doc, field, &me)?;
                let mut len = doc.length(&obj);
                for (pos, del, ins) in splices {
                    let new_len = check_splice(field, len, *pos, *del, ins)?;
                    doc.splice_text(&obj, *pos, *del as isize, ins)?;
                    len = new_len;
                    excerpt_touched |= *pos < edoc::EXCERPT_CHARS * 2;
                }
                Ok(())
            })?;
            // Splices that change nothing (an empty insert and no delete) write nothing, so
            // they must not touch the index either: `updated_at` would then differ from
            // every other device's, which never sees a change.
            if changed {
                after_text_edit(tx, d, entry, field, excerpt_touched)?;
            }
            Ok(())
        })
    }

    /// Replace an entry's tags (additions and removals merge with a partner's).
    pub fn set_tags(&self, entry: &EntryId, tags: &[String]) -> Result<()> {
        limits::check_tags(tags)?;
        self.edit_entry(entry, |doc, _| edoc::set_tags(doc, tags), false)
    }

    /// Change a check-in's mood and/or closeness (1–5).
    pub fn set_check_in_scores(
        &self,
        entry: &EntryId,
        mood: Option<u8>,
        closeness: Option<u8>,
    ) -> Result<()> {
        if let Some(m) = mood {
            limits::check_scale("mood", m)?;
        }
        if let Some(c) = closeness {
            limits::check_scale("closeness", c)?;
        }
        self.edit_entry(
            entry,
            |doc, _| {
                if let Some(m) = mood {
                    edoc::set_scale(doc, "mood", m)?;
                }
                if let Some(c) = closeness {
                    edoc::set_scale(doc, "closeness", c)?;
                }
                Ok(())
            },
            true,
        )
    }

    /// Move an entry to the trash (soft delete). Only its author may.
    pub fn delete_entry(&self, entry: &EntryId) -> Result<()> {
        self.set_trashed(entry, true)
    }

    /// Bring an entry back from the trash, with every edit made meanwhile.
    pub fn restore_entry(&self, entry: &EntryId) -> Result<()> {
        self.set_trashed(entry, false)
    }

    /// Move an entry into the trash or out of it; only its author may. An entry already
    /// where it is asked to be gets no change (and no event).
    fn set_trashed(&self, entry: &EntryId, trash: bool) -> Result<()> {
        let (verb, event) = if trash {
            ("delete", EntryEventKind::Deleted)
        } else {
            ("restore", EntryEventKind::Restored)
        };
        self.write(|tx| {
            let d = tx.entry_ref(entry)?;
            let now = tx.now;
            let me = tx.me.member;
            let (_, changed) = tx.change(d, |doc| {
                if edoc::author(doc)? != me {
                    return Err(Error::NotAllowed(format!(
                        "only its author can {verb} an entry"
                    )));
                }
                if edoc::deleted_at(doc).is_some() == trash {
                    return Ok(());
                }
                edoc::set_deleted(doc, trash.then_some(now))
            })?;
            if changed {
                tx.reindex(d.rowid, entry, &d.space, now, false)?;
                tx.local_event(event, *entry, d.space);
            }
            Ok(())
        })
    }

    /// React to an entry (one reaction per person; reacting again replaces it).
    pub fn react(&self, entry: &EntryId, emoji: &str) -> Result<()> {
        limits::check_reaction(emoji)?;
        self.edit_entry(
            entry,
            |doc, me| edoc::set_reaction(doc, &me, Some(emoji)),
            true,
        )
    }

    /// Remove my reaction.
    pub fn unreact(&self, entry: &EntryId) -> Result<()> {
        self.edit_entry(
            entry,
            |doc, me| {
                let has = doc::get_obj(doc, &automerge::ROOT, "reactions", automerge::ObjType::Map)
                    .map(|m| doc.get(&m, me.to_string()).ok().flatten().is_some())
                    .unwrap_or(false);
                if has {
                    edoc::set_reaction(doc, &me, None)?;
                }
                Ok(())
            },
            true,
        )
    }

    /// Reply to an entry.
    pub fn reply(&self, entry: &EntryId, text: &str) -> Result<ReplyId> {
        check_reply(text)?;
        let id = ReplyId::new();
        let now = self.now();
        self.edit_entry(
            entry,
            |doc, me| edoc::add_reply(doc, &id, &me, text, now),
            false,
        )?;
        Ok(id)
    }

    /// Edit my reply (minimal splices, like entry text).
    pub fn edit_reply(&self, entry: &EntryId, reply: &ReplyId, text: &str) -> Result<()> {
        check_reply(text)?;
        self.edit_entry(
            entry,
            |doc, me| {
                let r = own_reply(doc, reply, &me)?;
                let t = doc::ensure_text(doc, &r, "body")?;
                doc::update_text(doc, &t, text).map(|_| ())
            },
            false,
        )
    }

    /// Soft-delete my reply.
    pub fn delete_reply(&self, entry: &EntryId, reply: &ReplyId) -> Result<()> {
        let now = self.now();
        self.set_reply_deleted(entry, reply, Some(now))
    }

    /// Restore my deleted reply.
    pub fn restore_reply(&self, entry: &EntryId, reply: &ReplyId) -> Result<()> {
        self.set_reply_deleted(entry, reply, None)
    }

    fn set_reply_deleted(&self, entry: &EntryId, reply: &ReplyId, at: Option<i64>) -> Result<()> {
        use automerge::{ScalarValue, transaction::Transactable};
        self.edit_entry(
            entry,
            |doc, me| {
                let r = own_reply(doc, reply, &me)?;
                if doc::get_int(doc, &r, "deleted_at").is_some() != at.is_some() {
                    match at {
                        Some(t) => doc.put(&r, "deleted_at", ScalarValue::Timestamp(t))?,
                        None => doc.put(&r, "deleted_at", ScalarValue::Null)?,
                    }
                }
                Ok(())
            },
            false,
        )
    }

    /// Share a private draft into a journal. The journal gets a new entry holding the
    /// draft's current content only: none of the drafting history travels with it.
    pub fn share_draft(&self, draft: &EntryId, journal: &SpaceId) -> Result<EntryId> {
        let id = EntryId::new();
        self.write(|tx| {
            let d = tx.entry_ref(draft)?;
            let personal = tx.me.personal_space;
            if d.space != personal {
                return Err(Error::NotAllowed(
                    "only entries in your personal space are drafts that can be shared".into(),
                ));
            }
            match store::space(&tx.sql, journal)? {
                Some(s) if s.kind == SpaceKind::Journal => {}
                Some(_) => {
                    return Err(Error::NotAllowed(
                        "a draft is shared into a shared journal, not a personal space".into(),
                    ));
                }
                None => return Err(Error::not_found("journal", journal)),
            }
            let updated = index::entry_row(&tx.sql, draft)?
                .map(|r| r.updated_at)
                .unwrap_or(0);
            let me = tx.me.member;
            let e = edoc::read(tx.doc(d.rowid)?, *draft, d.space, updated)?;
            if e.deleted {
                return Err(Error::NotAllowed("the draft is in the trash".into()));
            }
            if let Some(shared) = e.shared_as {
                // One draft, one shared entry: edit that entry rather than sharing twice.
                return Err(Error::NotAllowed(format!(
                    "the draft was already shared as {shared}"
                )));
            }
            let new = NewEntry {
                kind: Some(e.kind),
                title: e.title,
                body: e.body,
                tags: e.tags,
                prompt_id: e.prompt_id,
                check_in: e.check_in,
                perspective: e
                    .conflict
                    .and_then(|c| c.perspectives.into_iter().find(|(m, _)| *m == me))
                    .map(|(_, p)| p),
            };
            create_in(tx, journal, e.kind, &new, id)?;
            let attachments = crate::doc::attachments::list(tx.doc(d.rowid)?);
            super::attachments::copy_into(tx, &attachments, &id)?;
            let (_, changed) = tx.change(d, |doc| edoc::set_shared_as(doc, &id))?;
            if changed {
                let now = tx.now;
                tx.reindex(d.rowid, draft, &d.space, now, false)?;
                tx.local_event(EntryEventKind::Changed, *draft, d.space);
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// One entry, read in full (its document is loaded; nothing else is).
    pub fn get_entry(&self, entry: &EntryId) -> Result<Entry> {
        self.read(|tx| {
            let row = index::entry_row(&tx.sql, entry)?
                .ok_or_else(|| Error::not_found("entry", entry))?;
            tx.read_entry(row.rowid, *entry, row.space, row.updated_at)
        })
    }

    /// List entries from the index, newest first, with filters and paging.
    pub fn list_entries(&self, query: &EntryQuery) -> Result<EntryPage> {
        let g = self.lock();
        index::list(&g.conn, query)
    }

    /// Full-text search over everything written in entries (title, body, replies, notes),
    /// in one journal or all. Sees every write made before it.
    pub fn search(
        &self,
        query: &str,
        journal: Option<&SpaceId>,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        self.write(|tx| {
            tx.refresh_fts()?;
            index::search(&tx.sql, query, journal, limit)
        })
    }

    /// The full id of the entry whose id starts with `prefix` (at least 4 characters).
    pub fn resolve_entry(&self, prefix: &str) -> Result<EntryId> {
        resolve_prefix("entry", prefix, |p| {
            index::ids_with_prefix(&self.lock().conn, p)
        })
    }

    /// A small edit through `edit`, then a full reindex of the entry.
    fn edit_entry(
        &self,
        entry: &EntryId,
        edit: impl FnOnce(&mut automerge::AutoCommit, crate::ids::MemberId) -> Result<()>,
        fts_now: bool,
    ) -> Result<()> {
        self.write(|tx| {
            let d = tx.entry_ref(entry)?;
            let me = tx.me.member;
            let (_, changed) = tx.change(d, |doc| edit(doc, me))?;
            if changed {
                let now = tx.now;
                tx.reindex(d.rowid, entry, &d.space, now, fts_now)?;
                tx.local_event(EntryEventKind::Changed, *entry, d.space);
            }
            Ok(())
        })
    }
}

fn check_reply(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid("reply", "must not be empty"));
    }
    limits::check_len("reply", text, MAX_REPLY_CHARS)
}

fn own_reply(
    doc: &automerge::AutoCommit,
    reply: &ReplyId,
    me: &crate::ids::MemberId,
) -> Result<automerge::ObjId> {
    let r = edoc::reply_obj(doc, reply)?;
    if edoc::reply_author(doc, &r).as_ref() != Some(me) {
        return Err(Error::NotAllowed(
            "only its author can change a reply".into(),
        ));
    }
    Ok(r)
}

fn validate_new(kind: EntryKind, new: &NewEntry) -> Result<()> {
    limits::check_len("title", &new.title, limits::MAX_TITLE_CHARS)?;
    limits::check_len("body", &new.body, limits::MAX_BODY_CHARS)?;
    limits::check_tags(&new.tags)?;
    if let Some(p) = &new.prompt_id
        && crate::prompts::by_id(p).is_none()
    {
        return Err(Error::invalid("prompt id", format!("no prompt {p:?}")));
    }
    if let Some(p) = &new.perspective {
        limits::check_len("perspective", p, limits::MAX_BODY_CHARS)?;
    }
    match (kind, &new.check_in) {
        (EntryKind::CheckIn, Some(ci)) => {
            limits::check_scale("mood", ci.mood)?;
            limits::check_scale("closeness", ci.closeness)?;
            limits::check_len("needs", &ci.needs, limits::MAX_NOTE_CHARS)?;
            limits::check_len("gratitude", &ci.gratitude, limits::MAX_NOTE_CHARS)?;
        }
        (EntryKind::CheckIn, None) => {
            return Err(Error::invalid(
                "check-in",
                "mood and closeness are required",
            ));
        }
        (_, Some(_)) => {
            return Err(Error::invalid(
                "check-in",
                "only check-in entries have check-in scores",
            ));
        }
        _ => {}
    }
    if new.perspective.is_some() && kind != EntryKind::Conflict {
        return Err(Error::invalid(
            "perspective",
            "only conflict entries have perspectives",
        ));
    }
    Ok(())
}

/// Create an entry document in `journal`, index it and announce it.
fn create_in(
    tx: &mut Tx<'_>,
    journal: &SpaceId,
    kind: EntryKind,
    new: &NewEntry,
    id: EntryId,
) -> Result<()> {
    create_in_with(tx, journal, kind, new, id, |_| Ok(()))
}

/// [`create_in`], with `extra` written into the document in its creating change.
pub(super) fn create_in_with(
    tx: &mut Tx<'_>,
    journal: &SpaceId,
    kind: EntryKind,
    new: &NewEntry,
    id: EntryId,
    extra: impl FnOnce(&mut automerge::AutoCommit) -> Result<()>,
) -> Result<()> {
    if store::space(&tx.sql, journal)?.is_none() {
        return Err(Error::not_found("journal", journal));
    }
    let meta = tx.meta_ref(journal)?;
    let members: Vec<_> = doc::meta::members(tx.doc(meta.rowid)?)
        .into_iter()
        .map(|m| m.id)
        .collect();
    let rowid = store::insert_doc(&tx.sql, &id.0, journal, DocKind::Entry.as_str())?;
    let d = DocRef {
        rowid,
        id: id.0,
        space: *journal,
        kind: DocKind::Entry,
    };
    let (now, me) = (tx.now, tx.me.member);
    tx.change(d, |doc| {
        edoc::create(
            doc,
            &edoc::Create {
                kind,
                author: me,
                created_at: now,
                entry: new,
                members: &members,
            },
        )?;
        extra(doc)
    })?;
    tx.reindex(rowid, &id, journal, now, true)?;
    tx.local_event(EntryEventKind::Added, id, *journal);
    Ok(())
}

/// The entry's document, refusing edits to an entry in the trash.
fn live_entry(tx: &mut Tx<'_>, entry: &EntryId) -> Result<DocRef> {
    let d = tx.entry_ref(entry)?;
    if edoc::deleted_at(tx.doc(d.rowid)?).is_some() {
        return Err(Error::NotAllowed(
            "the entry is in the trash; restore it to edit".into(),
        ));
    }
    Ok(d)
}

/// Index update after a text edit: cheap on the typing path (title and excerpt only when
/// they may have changed; full text refreshed lazily before the next search).
fn after_text_edit(
    tx: &mut Tx<'_>,
    d: DocRef,
    entry: &EntryId,
    field: TextField,
    excerpt_touched: bool,
) -> Result<()> {
    let doc = tx.doc(d.rowid)?;
    let title = (field == TextField::Title).then(|| doc::get_text(doc, &automerge::ROOT, "title"));
    let excerpt = (field == TextField::Body && excerpt_touched)
        .then(|| edoc::excerpt_of(&edoc::body_head(doc)));
    let now = tx.now;
    index::touch(&tx.sql, d.rowid, now, title.as_deref(), excerpt.as_deref())?;
    tx.local_event(EntryEventKind::Changed, *entry, d.space);
    Ok(())
}

/// Whether a splice at `pos` deleting `del` characters and inserting `ins` fits a text of
/// `len` characters and the field's limit; the text's new length if so.
pub(super) fn check_splice(
    field: TextField,
    len: usize,
    pos: usize,
    del: usize,
    ins: &str,
) -> Result<usize> {
    if pos > len || del > len - pos {
        return Err(Error::invalid(
            "splice",
            format!(
                "range {pos}..{} is outside the text (length {len})",
                pos + del
            ),
        ));
    }
    let new_len = len - del + ins.chars().count();
    if new_len > field.max_chars() {
        return Err(Error::invalid(
            field.key(),
            format!("longer than {} characters", field.max_chars()),
        ));
    }
    Ok(new_len)
}

/// The one id among those `find` gives for a prefix: a whole id as it is, else at least
/// 4 characters of one (`what` names the thing in errors: "entry", "attachment").
pub(super) fn resolve_prefix<T: std::str::FromStr<Err = Error>>(
    what: &'static str,
    prefix: &str,
    find: impl FnOnce(&str) -> Result<Vec<String>>,
) -> Result<T> {
    let p = prefix.trim();
    if let Ok(id) = p.parse::<T>() {
        return Ok(id);
    }
    let field = if what == "entry" {
        "entry id"
    } else {
        "attachment id"
    };
    if p.len() < 4 || !p.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::invalid(
            field,
            "give the id or at least its first 4 characters",
        ));
    }
    match find(p)?.as_slice() {
        [one] => one.parse(),
        [] => Err(Error::not_found(what, p)),
        _ => Err(Error::invalid(
            field,
            format!("{p} matches more than one {what}"),
        )),
    }
}
