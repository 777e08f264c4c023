//! What a sealed blob holds (CBOR): which document a change belongs to, and the change
//! bytes. The same payload travels in the outbox and in bundles.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::crypto::{self, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::{AttachmentId, MemberId, SpaceId};
use crate::model::EntryKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DocKind {
    Meta,
    Entry,
}

impl DocKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DocKind::Meta => "meta",
            DocKind::Entry => "entry",
        }
    }
}

/// One document's bytes: in a sealed blob, changes to it (the outbox) or all of it (a
/// bundle); in a journal snapshot (`sync::snapshots`), its full state (its stored snapshot
/// and chunks, one after the other) with its index rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Payload {
    #[serde(with = "serde_bytes")]
    pub doc: [u8; 16],
    pub kind: DocKind,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// Only in a snapshot: the entry's index and full-text rows, as the writer's device held
    /// them — what a joining device lists and searches before it loads the document. Absent
    /// for meta documents and for entries a reader must index itself (an unrevealed sealed
    /// answer), and left out of the bytes then: a payload without it is what a blob holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<SnapshotIndex>,
}

/// An entry's index row in a snapshot. Title and excerpt are not repeated: they come from
/// the full-text title and body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotIndex {
    pub author: MemberId,
    pub kind: EntryKind,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted_at: Option<Millis>,
    pub tags: Vec<String>,
    pub prompt_id: Option<String>,
    pub mood: Option<u8>,
    pub closeness: Option<u8>,
    pub reaction_count: u32,
    pub reply_count: u32,
    pub title: String,
    pub body: String,
    pub extra: String,
    pub attachments: Vec<SnapshotAttachment>,
}

/// An attachment an entry refers to: its id, and the hashes of its original and thumbnail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotAttachment {
    pub id: AttachmentId,
    #[serde(with = "serde_bytes")]
    pub hash: [u8; 32],
    #[serde(default, with = "serde_bytes")]
    pub thumb: Option<[u8; 32]>,
}

/// A blob as stored or shipped: random id and sealed payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SealedBlob {
    #[serde(with = "serde_bytes")]
    pub id: [u8; 16],
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

pub(crate) fn seal(
    key: &SpaceKey,
    epoch: crypto::Epoch,
    space: &SpaceId,
    payload: &Payload,
) -> Result<SealedBlob> {
    let mut plain = Vec::with_capacity(payload.data.len() + 32);
    ciborium::into_writer(payload, &mut plain)
        .map_err(|e| Error::Internal(format!("encoding a blob: {e}")))?;
    crypto::pad_for_sealing(&mut plain);
    let id = crypto::new_blob_id();
    let sealed = crypto::seal(key, epoch, space, &id, &plain)?;
    Ok(SealedBlob { id, sealed })
}

pub(crate) fn open(key: &SpaceKey, space: &SpaceId, blob: &SealedBlob) -> Result<Payload> {
    let plain = crypto::open(key, space, &blob.id, &blob.sealed)?;
    ciborium::from_reader(plain.as_slice())
        .map_err(|e| Error::CorruptData(format!("blob payload: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let key = SpaceKey::generate();
        let space = SpaceId::new();
        let p = Payload {
            doc: [7; 16],
            kind: DocKind::Entry,
            data: vec![1, 2, 3],
            index: None,
        };
        let b = seal(&key, 1, &space, &p).unwrap();
        let back = open(&key, &space, &b).unwrap();
        assert_eq!(back.doc, [7; 16]);
        assert_eq!(back.kind, DocKind::Entry);
        assert_eq!(back.data, vec![1, 2, 3]);
        assert!(back.index.is_none());
    }

    /// Without an index a payload is the three fields a blob has always held, so devices
    /// that read blobs without knowing `index` read these.
    #[test]
    fn a_payload_without_an_index_is_what_a_blob_holds() {
        let p = Payload {
            doc: [7; 16],
            kind: DocKind::Meta,
            data: vec![1, 2, 3],
            index: None,
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&p, &mut bytes).unwrap();
        let value: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let keys: Vec<_> = value
            .as_map()
            .unwrap()
            .iter()
            .filter_map(|(k, _)| k.as_text())
            .collect();
        assert_eq!(keys, ["doc", "kind", "data"]);
    }
}
