//! Duet's Automerge documents: how an entry and a space's meta document are laid out, and
//! small typed helpers to read and write them.

pub(crate) mod entry;
pub(crate) mod meta;

use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, TextEncoding, Value,
    transaction::{CommitOptions, Transactable},
};

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::ids::DeviceId;

/// Schema version written into every document; readers refuse documents from the future.
pub(crate) const DOC_SCHEMA: i64 = 1;

/// Positions in text are Unicode scalar values on every platform.
const ENCODING: TextEncoding = TextEncoding::UnicodeCodePoint;

/// Load a document from its snapshot and incremental chunks. Bytes from our own store;
/// a failure here means the store is damaged.
pub(crate) fn load_doc<'a>(
    device: &DeviceId,
    snapshot: Option<&[u8]>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<AutoCommit> {
    let mut doc = match snapshot {
        Some(s) if !s.is_empty() => {
            AutoCommit::load_with_options(s, automerge::LoadOptions::new().text_encoding(ENCODING))
                .map_err(|e| Error::CorruptData(format!("stored document: {e}")))?
        }
        _ => AutoCommit::new_with_encoding(ENCODING),
    };
    // All chunks in one `load_incremental`: automerge applies each call's changes as one
    // batch with a pass over the whole document, so a call per chunk made loading cost
    // (chunks × document size) — tens of seconds for a long body with ~1000 chunks.
    let mut changes = Vec::new();
    for c in chunks {
        changes.extend_from_slice(c);
    }
    if !changes.is_empty() {
        doc.load_incremental(&changes)
            .map_err(|e| Error::CorruptData(format!("stored change: {e}")))?;
    }
    doc.set_actor(ActorId::from(device.as_bytes().as_slice()));
    Ok(doc)
}

/// Load bytes that came from outside (a bundle or the relay) into a document.
pub(crate) fn load_foreign(doc: &mut AutoCommit, bytes: &[u8]) -> Result<()> {
    doc.load_incremental(bytes)
        .map(|_| ())
        .map_err(|e| Error::CorruptData(format!("document change: {e}")))
}

pub(crate) fn commit(doc: &mut AutoCommit, now: Millis) -> Option<ChangeHash> {
    doc.commit_with(CommitOptions::default().with_time(now))
}

pub(crate) fn device_of_actor(actor: &ActorId) -> Option<DeviceId> {
    let bytes: [u8; 16] = actor.to_bytes().try_into().ok()?;
    Some(DeviceId::from_bytes(bytes))
}

pub(crate) fn get_str(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn get_int(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<i64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => scalar_int(&s),
        _ => None,
    }
}

pub(crate) fn scalar_int(s: &ScalarValue) -> Option<i64> {
    match s {
        ScalarValue::Int(i) => Some(*i),
        ScalarValue::Uint(u) => i64::try_from(*u).ok(),
        ScalarValue::Timestamp(t) => Some(*t),
        ScalarValue::Counter(c) => Some(i64::from(c)),
        _ => None,
    }
}

/// The id of a child object of the given type, if present.
pub(crate) fn get_obj(doc: &AutoCommit, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(t), id) if t == ty => Some(id),
        _ => None,
    }
}

pub(crate) fn get_text(doc: &AutoCommit, obj: &ObjId, key: &str) -> String {
    get_obj(doc, obj, key, ObjType::Text)
        .and_then(|t| doc.text(&t).ok())
        .unwrap_or_default()
}

/// The text object at `key`, created when missing.
pub(crate) fn ensure_text(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match get_obj(doc, obj, key, ObjType::Text) {
        Some(id) => Ok(id),
        None => Ok(doc.put_object(obj, key, ObjType::Text)?),
    }
}

pub(crate) fn ensure_map(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match get_obj(doc, obj, key, ObjType::Map) {
        Some(id) => Ok(id),
        None => Ok(doc.put_object(obj, key, ObjType::Map)?),
    }
}

/// Replace the text at `obj` with `new` through minimal splices.
pub(crate) fn update_text(doc: &mut AutoCommit, text_obj: &ObjId, new: &str) -> Result<bool> {
    let old = doc.text(text_obj)?;
    let splices = crate::text::splices(&old, new);
    for s in &splices {
        doc.splice_text(text_obj, s.pos, s.delete as isize, &s.insert)?;
    }
    Ok(!splices.is_empty())
}

/// Refuse documents written by a newer Duet.
pub(crate) fn check_schema(doc: &AutoCommit) -> Result<()> {
    match get_int(doc, &automerge::ROOT, "v") {
        Some(v) if v > DOC_SCHEMA => Err(Error::CorruptData(format!(
            "document schema {v} is newer than this build ({DOC_SCHEMA})"
        ))),
        _ => Ok(()),
    }
}
