//! Duet's Automerge documents: how an entry and a space's meta document are laid out, and
//! small typed helpers to read and write them.

pub(crate) mod attachments;
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

/// An empty document (to load a document's bytes into, outside the store).
pub(crate) fn empty_doc() -> AutoCommit {
    AutoCommit::new_with_encoding(ENCODING)
}

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
        _ => empty_doc(),
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

/// Load bytes that came from outside (a bundle or the relay) into a document. All or
/// nothing: every chunk must parse before anything is applied. (Automerge's
/// `load_incremental` applies the chunks before a bad one and silently drops the rest, so a
/// damaged blob would be half applied and never reported.)
pub(crate) fn load_foreign(doc: &mut AutoCommit, bytes: &[u8]) -> Result<()> {
    let bad = |e: &dyn std::fmt::Display| Error::CorruptData(format!("document change: {e}"));
    let mut changes = Vec::new();
    let mut has_documents = false;
    let mut rest = bytes;
    // Nothing in it, not even changes waiting for their dependencies.
    let empty = doc.get_heads().is_empty() && doc.get_missing_deps(&[]).is_empty();
    while !rest.is_empty() {
        let len = chunk_len(rest).ok_or_else(|| bad(&"not a whole automerge chunk"))?;
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        match chunk[8] {
            // A change, plain or compressed: parsed and checked here, applied below.
            1 | 2 => {
                let change = automerge::Change::try_from(chunk).map_err(|e| bad(&e))?;
                if change.hash().0[..4] != chunk[4..8] {
                    return Err(bad(&"bad checksum"));
                }
                changes.push(change);
            }
            // A whole document (a snapshot): it must load on its own.
            _ => {
                let loaded = AutoCommit::load_with_options(
                    chunk,
                    automerge::LoadOptions::new().text_encoding(ENCODING),
                )
                .map_err(|e| bad(&e))?;
                // The whole of what came, into an empty document (a new document's first
                // blob): the one it loaded as is the result; no second load.
                if empty && tail.is_empty() && !has_documents && changes.is_empty() {
                    let actor = doc.get_actor().clone();
                    *doc = loaded;
                    doc.set_actor(actor);
                    return Ok(());
                }
                has_documents = true;
            }
        }
    }
    if has_documents {
        doc.load_incremental(bytes).map_err(|e| bad(&e))?;
    } else {
        doc.apply_changes(changes).map_err(|e| bad(&e))?;
    }
    Ok(())
}

/// The length of the automerge chunk at the start of `b` (magic, checksum, type, LEB128
/// length, data), if `b` holds a whole one of a known type.
fn chunk_len(b: &[u8]) -> Option<usize> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if b.len() < 10 || b[..4] != MAGIC || b[8] > 2 {
        return None;
    }
    let (mut len, mut shift, mut i) = (0u64, 0u32, 9);
    loop {
        let byte = *b.get(i)?;
        len |= u64::from(byte & 0x7f).checked_shl(shift)?;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let end = i.checked_add(usize::try_from(len).ok()?)?;
    (end <= b.len()).then_some(end)
}

pub(crate) fn commit(doc: &mut AutoCommit, now: Millis) -> Option<ChangeHash> {
    doc.commit_with(CommitOptions::default().with_time(now))
}

pub(crate) fn device_of_actor(actor: &ActorId) -> Option<DeviceId> {
    let bytes: [u8; 16] = actor.to_bytes().try_into().ok()?;
    Some(DeviceId::from_bytes(bytes))
}

/// The scalar at `obj[key]`, read by `f` (which says `None` for a scalar of another type).
fn get_scalar<T>(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
    f: impl FnOnce(&ScalarValue) -> Option<T>,
) -> Option<T> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => f(s.as_ref()),
        _ => None,
    }
}

pub(crate) fn get_str(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<String> {
    get_scalar(doc, obj, key, |s| match s {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    })
}

pub(crate) fn get_int(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<i64> {
    get_scalar(doc, obj, key, scalar_int)
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

pub(crate) fn get_bytes(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<Vec<u8>> {
    get_scalar(doc, obj, key, |s| match s {
        ScalarValue::Bytes(b) => Some(b.clone()),
        _ => None,
    })
}

pub(crate) fn get_bool(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<bool> {
    get_scalar(doc, obj, key, |s| match s {
        ScalarValue::Boolean(b) => Some(*b),
        _ => None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A document whose one change writes `body`, and the body's text object.
    fn body_doc(body: &str) -> (AutoCommit, ObjId) {
        let mut doc = empty_doc();
        let text = doc
            .put_object(automerge::ROOT, "body", ObjType::Text)
            .unwrap();
        doc.splice_text(&text, 0, 0, body).unwrap();
        doc.commit();
        (doc, text)
    }

    /// A new document's first blob is a whole document: into an empty document it loads
    /// once and keeps the receiving document's actor; into one holding changes that wait
    /// for their dependencies, it merges and drops none of them.
    #[test]
    fn a_whole_document_into_an_empty_one_loads_once_and_keeps_the_actor() {
        let (mut src, text) = body_doc("first words");
        let first = src.save_nocompress();
        let heads = src.get_heads();
        src.splice_text(&text, 11, 0, ", then more").unwrap();
        src.commit();
        let second = src.save_after(&heads);

        let mut doc = empty_doc();
        let actor = ActorId::from([7u8; 16].as_slice());
        doc.set_actor(actor.clone());
        load_foreign(&mut doc, &first).unwrap();
        assert_eq!(doc.get_actor(), &actor);
        assert_eq!(get_text(&doc, &automerge::ROOT, "body"), "first words");

        // The later change first (waiting for the first), then the whole document.
        let mut waiting = empty_doc();
        load_foreign(&mut waiting, &second).unwrap();
        assert!(!waiting.get_missing_deps(&[]).is_empty());
        load_foreign(&mut waiting, &first).unwrap();
        assert_eq!(
            get_text(&waiting, &automerge::ROOT, "body"),
            "first words, then more"
        );
        assert_eq!(waiting.get_heads(), src.get_heads());
        // Damaged bytes change nothing.
        let mut damaged = first.clone();
        let n = damaged.len();
        damaged[n - 3] ^= 0xff;
        let mut untouched = empty_doc();
        assert!(load_foreign(&mut untouched, &damaged).is_err());
        assert!(untouched.get_heads().is_empty());
    }

    /// A document stored as a snapshot plus many one-change chunks (as the typing path writes
    /// them) loads back whole, with the chunks applied in one batch.
    #[test]
    fn snapshot_and_many_chunks_load_in_one_batch() {
        let device = DeviceId::new();
        let (mut doc, text) = body_doc("hello");
        let snapshot = doc.save();
        let mut chunks = Vec::new();
        for i in 0..300 {
            let heads = doc.get_heads();
            let pos = doc.length(&text);
            doc.splice_text(&text, pos, 0, &format!(" {i}")).unwrap();
            doc.commit();
            chunks.push(doc.save_after(&heads));
        }
        let want = doc.text(&text).unwrap();
        let mut loaded =
            load_doc(&device, Some(&snapshot), chunks.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(get_text(&loaded, &automerge::ROOT, "body"), want);
        assert_eq!(loaded.get_heads(), doc.get_heads());
    }

    #[test]
    fn body_head_reads_only_the_start_of_a_long_body() {
        let mut doc = AutoCommit::new_with_encoding(ENCODING);
        let body = doc
            .put_object(automerge::ROOT, "body", ObjType::Text)
            .unwrap();
        let long: String = "é".repeat(50) + &"x".repeat(100_000);
        doc.splice_text(&body, 0, 0, &long).unwrap();
        doc.splice_text(&body, 10, 5, "").unwrap();
        doc.commit();
        let head = entry::body_head(&doc);
        let want: String = doc
            .text(&body)
            .unwrap()
            .chars()
            .take(entry::EXCERPT_CHARS * 2)
            .collect();
        assert_eq!(head, want);
    }
}
