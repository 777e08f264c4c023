//! What a sealed blob holds (CBOR): which document a change belongs to, and the change
//! bytes. The same payload travels in the outbox and in bundles.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::SpaceId;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Payload {
    #[serde(with = "serde_bytes")]
    pub doc: [u8; 16],
    pub kind: DocKind,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
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
        };
        let b = seal(&key, 1, &space, &p).unwrap();
        let back = open(&key, &space, &b).unwrap();
        assert_eq!(back.doc, [7; 16]);
        assert_eq!(back.kind, DocKind::Entry);
        assert_eq!(back.data, vec![1, 2, 3]);
    }
}
