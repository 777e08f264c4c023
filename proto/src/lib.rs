//! # duet-proto
//!
//! The relay protocol, version 1. Every request and response body under `/v1` is CBOR
//! (`application/cbor`); errors are a small JSON object `{code, message}` so any client and
//! any person with curl can read them. The relay only ever sees these types: ids, sizes,
//! times and sealed bytes — never content.

pub mod answers;
pub mod attachments;
pub mod error;
pub mod keys;
pub mod limits;
pub mod live;
pub mod recovery;
pub mod sealed;
pub mod types;

pub use answers::{AnswerInfo, AnswerShare, Answers};
pub use attachments::{AttachmentInfo, UploadStatus};
pub use error::{ErrorBody, ErrorCode};
pub use keys::{HeldDrop, HeldDrops, KeyDrop, KeyDrops};
pub use recovery::{PutRecoveryKit, Recover, Recovered, RecoveryKitInfo};
pub use types::*;

/// The protocol version this crate speaks; it is also the path prefix (`/v1`).
pub const VERSION: u32 = 1;
/// Content type of every request and response body.
pub const CBOR: &str = "application/cbor";

/// Encode a value as CBOR.
pub fn to_cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail for our plain data types.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

/// Decode CBOR bytes: exactly one item, nothing after it (a body with trailing bytes is
/// malformed, not a valid body and some garbage).
pub fn from_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| DecodeError(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError(format!(
            "{} trailing bytes after the CBOR item",
            rest.len()
        )));
    }
    Ok(value)
}

/// A body that isn't the CBOR we expect.
#[derive(Debug, thiserror::Error)]
#[error("malformed CBOR body: {0}")]
pub struct DecodeError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_cbor_takes_exactly_one_item() {
        let bytes = to_cbor(&Snapshot {
            seq: 3,
            data: vec![1, 2, 3],
        });
        let back: Snapshot = from_cbor(&bytes).unwrap();
        assert_eq!(back.seq, 3);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(from_cbor::<Snapshot>(&trailing).is_err());
        let mut twice = bytes.clone();
        twice.extend_from_slice(&bytes);
        assert!(from_cbor::<Snapshot>(&twice).is_err());
        assert!(from_cbor::<Snapshot>(&bytes[..bytes.len() - 1]).is_err());
    }
}
