//! The entry document. Layout (root map):
//!
//! ```text
//! v: 1                      kind: "reflection" | ...     author: member id
//! created_at: ms            title: Text                  body: Text
//! tags: { tag: true }       prompt_id: str?              deleted_at: ms | null
//! mood, closeness: int      needs, gratitude: Text       (check-in)
//! perspectives: { member: Text }   agreement: Text       (conflict)
//! reactions: { member: emoji }
//! replies: { reply id: { author, body: Text, created_at, deleted_at } }
//! shared_as: entry id       (on a private draft, once shared)
//! sealed: { round: str, k1: bytes(32), text: bytes, revealed: bool }   (sealed answer)
//! ```
//! Tags are a map used as a set so concurrent additions both survive; text is Automerge
//! Text so concurrent edits merge character by character.
//!
//! A sealed prompt answer (ADR 11) keeps its title and body Text empty until it is revealed:
//! `sealed.text` holds them sealed under the answer key `K = k1 ⊕ K2` (`K2` is the relay's
//! share of the person's answers to `round`). Only the device that wrote it sets `revealed`,
//! in the same change that writes the text into `title` and `body` (one writer, so the text
//! is never inserted twice); from then on it is an ordinary entry.

use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};

use super::{
    DOC_SCHEMA, device_of_actor, ensure_map, ensure_text, get_bool, get_bytes, get_int, get_obj,
    get_str, get_text, scalar_int, update_text,
};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, EntryId, MemberId, ReplyId, SpaceId};
use crate::model::*;

/// Characters of body kept in the index as an excerpt.
pub(crate) const EXCERPT_CHARS: usize = 200;

pub(crate) struct Create<'a> {
    pub kind: EntryKind,
    pub author: MemberId,
    pub created_at: Millis,
    pub entry: &'a NewEntry,
    /// Members of the journal, so a conflict entry has a perspective for each.
    pub members: &'a [MemberId],
}

pub(crate) fn create(doc: &mut AutoCommit, c: &Create<'_>) -> Result<()> {
    doc.put(ROOT, "v", DOC_SCHEMA)?;
    doc.put(ROOT, "kind", c.kind.as_str())?;
    doc.put(ROOT, "author", c.author.to_string())?;
    doc.put(ROOT, "created_at", ScalarValue::Timestamp(c.created_at))?;
    let title = doc.put_object(ROOT, "title", ObjType::Text)?;
    doc.splice_text(&title, 0, 0, &c.entry.title)?;
    let body = doc.put_object(ROOT, "body", ObjType::Text)?;
    doc.splice_text(&body, 0, 0, &c.entry.body)?;
    let tags = doc.put_object(ROOT, "tags", ObjType::Map)?;
    for t in &c.entry.tags {
        doc.put(&tags, t.trim(), true)?;
    }
    doc.put_object(ROOT, "reactions", ObjType::Map)?;
    doc.put_object(ROOT, "replies", ObjType::Map)?;
    doc.put(ROOT, "deleted_at", ScalarValue::Null)?;
    if let Some(p) = &c.entry.prompt_id {
        doc.put(ROOT, "prompt_id", p.as_str())?;
    }
    match c.kind {
        EntryKind::CheckIn => {
            let ci = c.entry.check_in.clone().unwrap_or_default();
            doc.put(ROOT, "mood", ci.mood as i64)?;
            doc.put(ROOT, "closeness", ci.closeness as i64)?;
            let needs = doc.put_object(ROOT, "needs", ObjType::Text)?;
            doc.splice_text(&needs, 0, 0, &ci.needs)?;
            let grat = doc.put_object(ROOT, "gratitude", ObjType::Text)?;
            doc.splice_text(&grat, 0, 0, &ci.gratitude)?;
        }
        EntryKind::Conflict => {
            // One Text per member up front, so two partners never race to create the same
            // object (which would hide one side's words as a conflict).
            let persp = doc.put_object(ROOT, "perspectives", ObjType::Map)?;
            for m in c.members {
                let t = doc.put_object(&persp, m.to_string(), ObjType::Text)?;
                if let (true, Some(p)) = (*m == c.author, &c.entry.perspective) {
                    doc.splice_text(&t, 0, 0, p)?;
                }
            }
            doc.put_object(ROOT, "agreement", ObjType::Text)?;
        }
        _ => {}
    }
    Ok(())
}

/// The text object an edit of `field` goes to.
pub(crate) fn text_obj(doc: &mut AutoCommit, field: TextField, me: &MemberId) -> Result<ObjId> {
    let kind = kind(doc)?;
    match field {
        TextField::Title | TextField::Body => ensure_text(doc, &ROOT, field.key()),
        TextField::Needs | TextField::Gratitude => {
            if kind != EntryKind::CheckIn {
                return Err(Error::NotAllowed(format!(
                    "{} is a field of check-ins, not of a {kind}",
                    field.key()
                )));
            }
            ensure_text(doc, &ROOT, field.key())
        }
        TextField::Agreement => {
            if kind != EntryKind::Conflict {
                return Err(Error::NotAllowed(format!(
                    "agreement is a field of conflict entries, not of a {kind}"
                )));
            }
            ensure_text(doc, &ROOT, "agreement")
        }
        TextField::MyPerspective => {
            if kind != EntryKind::Conflict {
                return Err(Error::NotAllowed(format!(
                    "perspectives are a field of conflict entries, not of a {kind}"
                )));
            }
            let persp = ensure_map(doc, &ROOT, "perspectives")?;
            ensure_text(doc, &persp, &me.to_string())
        }
    }
}

pub(crate) fn kind(doc: &AutoCommit) -> Result<EntryKind> {
    let k = get_str(doc, &ROOT, "kind")
        .ok_or_else(|| Error::CorruptData("entry document has no kind".into()))?;
    EntryKind::parse(&k).map_err(|_| Error::CorruptData(format!("unknown entry kind {k:?}")))
}

pub(crate) fn author(doc: &AutoCommit) -> Result<MemberId> {
    get_str(doc, &ROOT, "author")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Error::CorruptData("entry document has no author".into()))
}

pub(crate) fn deleted_at(doc: &AutoCommit) -> Option<Millis> {
    get_int(doc, &ROOT, "deleted_at")
}

pub(crate) fn set_deleted(doc: &mut AutoCommit, at: Option<Millis>) -> Result<()> {
    match at {
        Some(t) => doc.put(ROOT, "deleted_at", ScalarValue::Timestamp(t))?,
        None => doc.put(ROOT, "deleted_at", ScalarValue::Null)?,
    }
    Ok(())
}

pub(crate) fn set_scale(doc: &mut AutoCommit, key: &str, v: u8) -> Result<()> {
    if kind(doc)? != EntryKind::CheckIn {
        return Err(Error::NotAllowed(format!("{key} is a field of check-ins")));
    }
    doc.put(ROOT, key, v as i64)?;
    Ok(())
}

pub(crate) fn tags(doc: &AutoCommit) -> Vec<String> {
    match get_obj(doc, &ROOT, "tags", ObjType::Map) {
        Some(t) => doc.keys(&t).collect(),
        None => Vec::new(),
    }
}

pub(crate) fn set_tags(doc: &mut AutoCommit, wanted: &[String]) -> Result<()> {
    let map = ensure_map(doc, &ROOT, "tags")?;
    let have: Vec<String> = doc.keys(&map).collect();
    for t in &have {
        if !wanted.iter().any(|w| w.trim() == t) {
            doc.delete(&map, t.as_str())?;
        }
    }
    for w in wanted {
        let w = w.trim();
        if !have.iter().any(|h| h == w) {
            doc.put(&map, w, true)?;
        }
    }
    Ok(())
}

pub(crate) fn set_reaction(doc: &mut AutoCommit, me: &MemberId, emoji: Option<&str>) -> Result<()> {
    let map = ensure_map(doc, &ROOT, "reactions")?;
    match emoji {
        Some(e) => doc.put(&map, me.to_string(), e.trim())?,
        None => doc.delete(&map, me.to_string())?,
    }
    Ok(())
}

pub(crate) fn add_reply(
    doc: &mut AutoCommit,
    id: &ReplyId,
    me: &MemberId,
    body: &str,
    now: Millis,
) -> Result<()> {
    let replies = ensure_map(doc, &ROOT, "replies")?;
    let r = doc.put_object(&replies, id.to_string(), ObjType::Map)?;
    doc.put(&r, "author", me.to_string())?;
    doc.put(&r, "created_at", ScalarValue::Timestamp(now))?;
    doc.put(&r, "deleted_at", ScalarValue::Null)?;
    let t = doc.put_object(&r, "body", ObjType::Text)?;
    doc.splice_text(&t, 0, 0, body)?;
    Ok(())
}

pub(crate) fn reply_obj(doc: &AutoCommit, id: &ReplyId) -> Result<ObjId> {
    get_obj(doc, &ROOT, "replies", ObjType::Map)
        .and_then(|r| get_obj(doc, &r, &id.to_string(), ObjType::Map))
        .ok_or_else(|| Error::not_found("reply", id))
}

pub(crate) fn reply_author(doc: &AutoCommit, reply: &ObjId) -> Option<MemberId> {
    get_str(doc, reply, "author").and_then(|a| a.parse().ok())
}

pub(crate) fn set_shared_as(doc: &mut AutoCommit, id: &EntryId) -> Result<()> {
    doc.put(ROOT, "shared_as", id.to_string())?;
    Ok(())
}

/// A sealed answer's map (see the layout above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub round: String,
    pub k1: Vec<u8>,
    pub text: Vec<u8>,
    pub revealed: bool,
}

/// The `sealed` map of a prompt answer, if the entry is one. A map missing its round or
/// text (a damaged or partial document) is not a sealed answer: there is nothing to open.
pub(crate) fn sealed(doc: &AutoCommit) -> Option<Sealed> {
    let m = get_obj(doc, &ROOT, "sealed", ObjType::Map)?;
    Some(Sealed {
        round: get_str(doc, &m, "round")?,
        k1: get_bytes(doc, &m, "k1").unwrap_or_default(),
        text: get_bytes(doc, &m, "text")?,
        revealed: get_bool(doc, &m, "revealed").unwrap_or(false),
    })
}

/// Make the entry a sealed answer: its round, journal share and sealed text.
pub(crate) fn put_sealed(doc: &mut AutoCommit, round: &str, k1: &[u8], text: &[u8]) -> Result<()> {
    let m = doc.put_object(ROOT, "sealed", ObjType::Map)?;
    doc.put(&m, "round", round)?;
    doc.put(&m, "k1", ScalarValue::Bytes(k1.to_vec()))?;
    doc.put(&m, "text", ScalarValue::Bytes(text.to_vec()))?;
    doc.put(&m, "revealed", false)?;
    Ok(())
}

fn sealed_map(doc: &AutoCommit) -> Result<ObjId> {
    get_obj(doc, &ROOT, "sealed", ObjType::Map)
        .ok_or_else(|| Error::Internal("not a sealed answer".into()))
}

/// Replace a sealed answer's text (an edit before it is revealed: sealed again).
pub(crate) fn set_sealed_text(doc: &mut AutoCommit, text: &[u8]) -> Result<()> {
    let m = sealed_map(doc)?;
    doc.put(&m, "text", ScalarValue::Bytes(text.to_vec()))?;
    Ok(())
}

/// Replace a sealed answer's journal share (the relay kept another share of this person's).
pub(crate) fn set_k1(doc: &mut AutoCommit, k1: &[u8]) -> Result<()> {
    let m = sealed_map(doc)?;
    doc.put(&m, "k1", ScalarValue::Bytes(k1.to_vec()))?;
    Ok(())
}

/// Reveal a sealed answer: its text goes into the ordinary fields, in the same change that
/// marks it revealed.
pub(crate) fn reveal(doc: &mut AutoCommit, title: &str, body: &str) -> Result<()> {
    let m = sealed_map(doc)?;
    let t = ensure_text(doc, &ROOT, "title")?;
    update_text(doc, &t, title)?;
    let b = ensure_text(doc, &ROOT, "body")?;
    update_text(doc, &b, body)?;
    doc.put(&m, "revealed", true)?;
    Ok(())
}

fn replies(doc: &AutoCommit) -> Vec<Reply> {
    let Some(map) = get_obj(doc, &ROOT, "replies", ObjType::Map) else {
        return Vec::new();
    };
    let mut out: Vec<Reply> = doc
        .keys(&map)
        .filter_map(|k| {
            let id: ReplyId = k.parse().ok()?;
            let r = get_obj(doc, &map, &k, ObjType::Map)?;
            Some(Reply {
                id,
                author: reply_author(doc, &r)?,
                body: get_text(doc, &r, "body"),
                created_at: get_int(doc, &r, "created_at").unwrap_or(0),
                deleted: get_int(doc, &r, "deleted_at").is_some(),
            })
        })
        .collect();
    out.sort_by_key(|r| (r.created_at, r.id));
    out
}

fn reactions(doc: &AutoCommit) -> Vec<Reaction> {
    let Some(map) = get_obj(doc, &ROOT, "reactions", ObjType::Map) else {
        return Vec::new();
    };
    doc.keys(&map)
        .filter_map(|k| {
            Some(Reaction {
                member: k.parse().ok()?,
                emoji: get_str(doc, &map, &k)?,
            })
        })
        .collect()
}

fn scale(doc: &AutoCommit, key: &str) -> Option<u8> {
    get_int(doc, &ROOT, key).and_then(|v| u8::try_from(v).ok())
}

/// Read the whole entry.
pub(crate) fn read(
    doc: &AutoCommit,
    id: EntryId,
    journal: SpaceId,
    updated_at: Millis,
) -> Result<Entry> {
    let kind = kind(doc)?;
    let deleted_at = deleted_at(doc);
    let check_in = (kind == EntryKind::CheckIn).then(|| CheckIn {
        mood: scale(doc, "mood").unwrap_or(0),
        closeness: scale(doc, "closeness").unwrap_or(0),
        needs: get_text(doc, &ROOT, "needs"),
        gratitude: get_text(doc, &ROOT, "gratitude"),
    });
    let conflict = (kind == EntryKind::Conflict).then(|| {
        let perspectives = get_obj(doc, &ROOT, "perspectives", ObjType::Map)
            .map(|p| {
                doc.keys(&p)
                    .filter_map(|k| Some((k.parse().ok()?, get_text(doc, &p, &k))))
                    .collect()
            })
            .unwrap_or_default();
        ConflictNotes {
            perspectives,
            agreement: get_text(doc, &ROOT, "agreement"),
        }
    });
    let sealed_answer = sealed(doc);
    Ok(Entry {
        id,
        journal,
        kind,
        author: author(doc)?,
        title: get_text(doc, &ROOT, "title"),
        body: get_text(doc, &ROOT, "body"),
        tags: tags(doc),
        prompt_id: get_str(doc, &ROOT, "prompt_id"),
        created_at: get_int(doc, &ROOT, "created_at").unwrap_or(0),
        updated_at,
        deleted: deleted_at.is_some(),
        deleted_at,
        reactions: reactions(doc),
        replies: replies(doc),
        check_in,
        conflict,
        shared_as: get_str(doc, &ROOT, "shared_as").and_then(|s| s.parse().ok()),
        // Unrevealed, it reads as sealed here; the engine opens it when it holds the key.
        sealed: sealed_answer.as_ref().is_some_and(|s| !s.revealed),
        answer_round: sealed_answer.map(|s| s.round),
    })
}

/// What the index holds about an entry.
#[derive(Debug, Clone)]
pub(crate) struct IndexFields {
    pub kind: EntryKind,
    pub author: MemberId,
    pub created_at: Millis,
    pub deleted_at: Option<Millis>,
    pub title: String,
    pub excerpt: String,
    pub tags: Vec<String>,
    pub prompt_id: Option<String>,
    pub mood: Option<u8>,
    pub closeness: Option<u8>,
    pub reaction_count: u32,
    pub reply_count: u32,
    /// An unrevealed sealed answer's round: its title and excerpt above are empty, and the
    /// engine fills them in only when it holds the answer's key.
    pub sealed_round: Option<String>,
}

pub(crate) fn excerpt_of(body: &str) -> String {
    let flat: String = body
        .chars()
        .take(EXCERPT_CHARS * 2)
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let mut out = String::new();
    let mut last_space = false;
    let mut n = 0;
    for c in flat.trim().chars() {
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
        n += 1;
        if n >= EXCERPT_CHARS {
            break;
        }
    }
    out
}

/// The body's first characters, read without materialising a long body.
pub(crate) fn body_head(doc: &AutoCommit) -> String {
    let Some(body) = get_obj(doc, &ROOT, "body", ObjType::Text) else {
        return String::new();
    };
    let mut head = String::new();
    // `take`: automerge's list_range filters by index but walks on to the end of the
    // text, so without it this read every character of a long body.
    for item in doc
        .list_range(&body, ..EXCERPT_CHARS * 2)
        .take(EXCERPT_CHARS * 2)
    {
        if let automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) = item.value {
            head.push_str(&s);
        }
    }
    head
}

pub(crate) fn index_fields(doc: &AutoCommit) -> Result<IndexFields> {
    index_fields_with(doc, &body_head(doc))
}

/// [`index_fields`] with the body's start (or all of it) already read: a pull reads the
/// whole body for the full-text row anyway.
pub(crate) fn index_fields_with(doc: &AutoCommit, body_start: &str) -> Result<IndexFields> {
    let reaction_count = get_obj(doc, &ROOT, "reactions", ObjType::Map)
        .map(|m| doc.length(&m) as u32)
        .unwrap_or(0);
    let reply_count = get_obj(doc, &ROOT, "replies", ObjType::Map)
        .map(|m| {
            doc.keys(&m)
                .filter(|k| {
                    get_obj(doc, &m, k, ObjType::Map)
                        .map(|r| get_int(doc, &r, "deleted_at").is_none())
                        .unwrap_or(false)
                })
                .count() as u32
        })
        .unwrap_or(0);
    Ok(IndexFields {
        kind: kind(doc)?,
        author: author(doc)?,
        created_at: get_int(doc, &ROOT, "created_at").unwrap_or(0),
        deleted_at: deleted_at(doc),
        title: get_text(doc, &ROOT, "title"),
        excerpt: excerpt_of(body_start),
        tags: tags(doc),
        prompt_id: get_str(doc, &ROOT, "prompt_id"),
        mood: scale(doc, "mood"),
        closeness: scale(doc, "closeness"),
        reaction_count,
        reply_count,
        sealed_round: sealed(doc).filter(|s| !s.revealed).map(|s| s.round),
    })
}

/// Text for the full-text index: title, body, and everything else people wrote.
pub(crate) fn fts_text(doc: &AutoCommit) -> (String, String, String) {
    let mut extra = String::new();
    for key in ["needs", "gratitude", "agreement"] {
        let t = get_text(doc, &ROOT, key);
        if !t.is_empty() {
            extra.push_str(&t);
            extra.push('\n');
        }
    }
    if let Some(p) = get_obj(doc, &ROOT, "perspectives", ObjType::Map) {
        for k in doc.keys(&p) {
            extra.push_str(&get_text(doc, &p, &k));
            extra.push('\n');
        }
    }
    for r in replies(doc).into_iter().filter(|r| !r.deleted) {
        extra.push_str(&r.body);
        extra.push('\n');
    }
    for t in tags(doc) {
        extra.push_str(&t);
        extra.push(' ');
    }
    (
        get_text(doc, &ROOT, "title"),
        get_text(doc, &ROOT, "body"),
        extra,
    )
}

fn scalar_json(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => serde_json::Value::String(s.to_string()),
            ScalarValue::Null => serde_json::Value::Null,
            ScalarValue::Boolean(b) => serde_json::Value::Bool(*b),
            other => scalar_int(other)
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        },
        Value::Object(t) => serde_json::Value::String(format!("<{t}>")),
    }
}

fn conflict_at(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
    label: String,
    member_of: &dyn Fn(&DeviceId) -> Option<MemberId>,
    out: &mut Vec<FieldConflict>,
) {
    let Ok(all) = doc.get_all(obj, key) else {
        return;
    };
    if all.len() < 2 {
        return;
    }
    let winner = doc.get(obj, key).ok().flatten().map(|(_, id)| id);
    let values = all
        .iter()
        .filter_map(|(v, id)| {
            let device = match id {
                automerge::ObjId::Id(_, actor, _) => device_of_actor(actor)?,
                automerge::ObjId::Root => return None,
            };
            Some(ConflictValue {
                value: scalar_json(v),
                member: member_of(&device),
                device,
                winner: winner.as_ref() == Some(id),
            })
        })
        .collect();
    out.push(FieldConflict {
        field: label,
        values,
    });
}

/// Scalar fields set concurrently, with every value and its author.
pub(crate) fn conflicts(
    doc: &AutoCommit,
    member_of: &dyn Fn(&DeviceId) -> Option<MemberId>,
) -> Vec<FieldConflict> {
    let mut out = Vec::new();
    for key in [
        "kind",
        "mood",
        "closeness",
        "deleted_at",
        "prompt_id",
        "shared_as",
    ] {
        conflict_at(doc, &ROOT, key, key.to_string(), member_of, &mut out);
    }
    if let Some(r) = get_obj(doc, &ROOT, "reactions", ObjType::Map) {
        for k in doc.keys(&r) {
            conflict_at(doc, &r, &k, format!("reactions.{k}"), member_of, &mut out);
        }
    }
    if let Some(replies) = get_obj(doc, &ROOT, "replies", ObjType::Map) {
        for k in doc.keys(&replies) {
            if let Some(r) = get_obj(doc, &replies, &k, ObjType::Map) {
                conflict_at(
                    doc,
                    &r,
                    "deleted_at",
                    format!("replies.{k}.deleted_at"),
                    member_of,
                    &mut out,
                );
            }
        }
    }
    out
}

/// (device, time) of every change, oldest first.
pub(crate) fn changes(doc: &mut AutoCommit) -> Vec<(Option<DeviceId>, Millis)> {
    doc.get_changes_meta(&[])
        .into_iter()
        .map(|c| (device_of_actor(&c.actor), c.timestamp))
        .collect()
}
