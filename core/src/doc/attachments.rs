//! Attachment references in an entry's document (ADR 15). Each is a map at its own root key
//! `attachment:<id>`, so two devices adding attachments at once never race to create a
//! shared container (one of two concurrent maps at one key would hide the other's):
//!
//! ```text
//! attachment:<id>: { name: str, mime: str, size: int, hash: bytes(32), sealed: int,
//!                    key: bytes(32), width: int?, height: int?,
//!                    thumb_hash: bytes(32)?, thumb_sealed: int?, thumb_size: int?,
//!                    added_at: ms, added_by: member id }
//! ```
//! A reference is written once and removed whole; it moves to the trash and back with its
//! entry, and shows in the entry's history.

use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, transaction::Transactable,
};

use super::{get_bytes, get_int, get_obj, get_str};
use crate::clock::Millis;
use crate::error::Result;
use crate::ids::{AttachmentId, MemberId};

const PREFIX: &str = "attachment:";

/// A sealed object: its address, sealed length and plaintext length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Object {
    pub(crate) hash: [u8; 32],
    pub(crate) sealed: u64,
    pub(crate) size: u64,
}

/// One attachment as the document holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachmentRef {
    pub(crate) id: AttachmentId,
    pub(crate) name: String,
    pub(crate) mime: String,
    pub(crate) original: Object,
    /// The original's and the thumbnail's key (each file has its own nonce in its header).
    pub(crate) key: [u8; 32],
    pub(crate) thumb: Option<Object>,
    pub(crate) thumb_key: Option<[u8; 32]>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) added_at: Millis,
    pub(crate) added_by: MemberId,
}

fn key_of(id: &AttachmentId) -> String {
    format!("{PREFIX}{id}")
}

/// Write a new attachment's reference.
pub(crate) fn put(doc: &mut AutoCommit, a: &AttachmentRef) -> Result<()> {
    let m = doc.put_object(ROOT, key_of(&a.id).as_str(), ObjType::Map)?;
    doc.put(&m, "name", a.name.as_str())?;
    doc.put(&m, "mime", a.mime.as_str())?;
    put_object(doc, &m, "", &a.original)?;
    doc.put(&m, "key", ScalarValue::Bytes(a.key.to_vec()))?;
    if let (Some(t), Some(k)) = (&a.thumb, &a.thumb_key) {
        put_object(doc, &m, "thumb_", t)?;
        doc.put(&m, "thumb_key", ScalarValue::Bytes(k.to_vec()))?;
    }
    if let Some(w) = a.width {
        doc.put(&m, "width", i64::from(w))?;
    }
    if let Some(h) = a.height {
        doc.put(&m, "height", i64::from(h))?;
    }
    doc.put(&m, "added_at", ScalarValue::Timestamp(a.added_at))?;
    doc.put(&m, "added_by", a.added_by.to_string())?;
    Ok(())
}

fn put_object(doc: &mut AutoCommit, m: &ObjId, prefix: &str, o: &Object) -> Result<()> {
    doc.put(
        m,
        format!("{prefix}hash").as_str(),
        ScalarValue::Bytes(o.hash.to_vec()),
    )?;
    doc.put(m, format!("{prefix}sealed").as_str(), o.sealed as i64)?;
    doc.put(m, format!("{prefix}size").as_str(), o.size as i64)?;
    Ok(())
}

fn get_object(doc: &AutoCommit, m: &ObjId, prefix: &str) -> Option<Object> {
    Some(Object {
        hash: get_bytes(doc, m, &format!("{prefix}hash"))?
            .try_into()
            .ok()?,
        sealed: u64::try_from(get_int(doc, m, &format!("{prefix}sealed"))?).ok()?,
        size: u64::try_from(get_int(doc, m, &format!("{prefix}size"))?).ok()?,
    })
}

fn get_key(doc: &AutoCommit, m: &ObjId, key: &str) -> Option<[u8; 32]> {
    get_bytes(doc, m, key)?.try_into().ok()
}

/// Remove an attachment's reference; `false` when the entry has none with that id.
pub(crate) fn remove(doc: &mut AutoCommit, id: &AttachmentId) -> Result<bool> {
    let k = key_of(id);
    if get_obj(doc, &ROOT, &k, ObjType::Map).is_none() {
        return Ok(false);
    }
    doc.delete(ROOT, k.as_str())?;
    Ok(true)
}

/// Every well-formed reference, oldest first (a malformed one, from a newer or a broken
/// writer, is skipped rather than failing the entry).
pub(crate) fn list(doc: &AutoCommit) -> Vec<AttachmentRef> {
    let mut out: Vec<AttachmentRef> = doc
        .keys(ROOT)
        .filter_map(|k| {
            let id: AttachmentId = k.strip_prefix(PREFIX)?.parse().ok()?;
            let m = get_obj(doc, &ROOT, &k, ObjType::Map)?;
            read(doc, &m, id)
        })
        .collect();
    out.sort_by_key(|a| (a.added_at, a.id));
    out
}

fn read(doc: &AutoCommit, m: &ObjId, id: AttachmentId) -> Option<AttachmentRef> {
    let dim = |k: &str| get_int(doc, m, k).and_then(|v| u32::try_from(v).ok());
    let thumb_key = get_key(doc, m, "thumb_key");
    Some(AttachmentRef {
        id,
        name: get_str(doc, m, "name")?,
        mime: get_str(doc, m, "mime")?,
        original: get_object(doc, m, "")?,
        key: get_key(doc, m, "key")?,
        thumb: get_object(doc, m, "thumb_").filter(|_| thumb_key.is_some()),
        thumb_key,
        width: dim("width"),
        height: dim("height"),
        added_at: get_int(doc, m, "added_at").unwrap_or(0),
        added_by: get_str(doc, m, "added_by")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sample(n: u8, at: Millis) -> AttachmentRef {
        AttachmentRef {
            id: AttachmentId::new(),
            name: format!("photo {n}.jpg"),
            mime: "image/jpeg".into(),
            original: Object {
                hash: [n; 32],
                sealed: 1000,
                size: 900,
            },
            key: [n; 32],
            thumb: Some(Object {
                hash: [n + 1; 32],
                sealed: 100,
                size: 80,
            }),
            thumb_key: Some([n + 2; 32]),
            width: Some(4032),
            height: Some(3024),
            added_at: at,
            added_by: MemberId::new(),
        }
    }

    /// Two devices each add an attachment at once: both survive the merge; a removal on one
    /// side and an addition on the other both hold.
    #[test]
    fn concurrent_additions_and_removals_merge() {
        let mut a = AutoCommit::new();
        let first = sample(1, 1);
        put(&mut a, &first).unwrap();
        let mut b = a.fork();
        let from_a = sample(3, 2);
        let from_b = sample(5, 3);
        put(&mut a, &from_a).unwrap();
        put(&mut b, &from_b).unwrap();
        assert!(remove(&mut b, &first.id).unwrap());
        assert!(!remove(&mut b, &first.id).unwrap());
        a.merge(&mut b).unwrap();
        assert_eq!(list(&a), vec![from_a, from_b]);
    }
}
