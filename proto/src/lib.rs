//! # duet-proto
//!
//! The relay protocol, version 1. Every request and response body under `/v1` is CBOR
//! (`application/cbor`); errors are a small JSON object `{code, message}` so any client and
//! any person with curl can read them. The relay only ever sees these types: ids, sizes,
//! times and sealed bytes — never content.

pub mod error;
pub mod limits;
pub mod live;
pub mod types;

pub use error::{ErrorBody, ErrorCode};
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

/// Decode CBOR bytes.
pub fn from_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    ciborium::from_reader(bytes).map_err(|e| DecodeError(e.to_string()))
}

/// A body that isn't the CBOR we expect.
#[derive(Debug, thiserror::Error)]
#[error("malformed CBOR body: {0}")]
pub struct DecodeError(pub String);
