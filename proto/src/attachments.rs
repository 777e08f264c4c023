//! Attachments (issue 11): photos, voice notes and other files of a journal's entries.
//!
//! A device seals a file on the phone (64 KiB segments, XChaCha20-Poly1305 STREAM, padded)
//! and the relay stores the sealed bytes under the BLAKE3 hash of those bytes: 32 bytes,
//! 64 lower-case hex digits in the path. Inside a journal the key is derived from the
//! content, so both partners' copies of one photo seal to the same bytes and are stored
//! once. The relay never sees a key, a name, a type or the exact size.
//!
//! Each stored object of a space carries *references*: 16 opaque bytes (32 hex digits), one
//! per attachment that uses it (a device sends the attachment's id; the relay can't tell).
//! Finishing an upload adds the uploader's reference; a device that adds a file the relay
//! already holds adds its reference without sending a byte; releasing the last reference
//! frees the bytes. Uploads left unfinished expire.
//!
//! Routes, all under `/v1/spaces/{space}/attachments/{hash}`, bearer token of a member
//! device (others get `not_found`, as for blobs):
//! - `PATCH …/upload?offset=O&size=S&ref=R`, body `application/octet-stream`: bytes
//!   `O..O+len` of the `S` sealed bytes. `O` must be what the relay has received
//!   (`offset_mismatch` otherwise: ask `GET …/upload`); bytes are kept as they arrive, so a
//!   dropped connection loses at most what was in flight. The last bytes make the relay
//!   check the hash (`invalid_request` and the upload discarded when it differs), store
//!   the object and add reference `R`. Answer: [`UploadStatus`]. The first bytes of an
//!   upload are refused with `quota_exceeded` when the space's attachments would pass its
//!   quota, and `attachment_too_large` when `S` passes the relay's limit. Uploading an
//!   object that is already stored answers `complete` at once (and adds `R`).
//! - `GET …/upload`: [`UploadStatus`] of an upload under way or finished; `not_found` when
//!   neither.
//! - `GET …` (and `HEAD`): the sealed bytes, `application/octet-stream`, with
//!   `Range: bytes=a-b` / `bytes=a-` (one range; `206`, or `range_not_satisfiable`).
//! - `PUT …/refs/{ref}`: add a reference to a stored object: [`AttachmentInfo`];
//!   `not_found` when the relay doesn't hold it (upload it then). Idempotent.
//! - `DELETE …/refs/{ref}`: release a reference (`204`, also when it was never there); the
//!   last one frees the object.

use serde::{Deserialize, Serialize};

/// Bytes of an attachment's address (BLAKE3 of its sealed bytes).
pub const HASH_BYTES: usize = 32;
/// Bytes of a reference.
pub const REF_BYTES: usize = 16;

/// The answer to `PATCH …/upload` and `GET …/upload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadStatus {
    /// The sealed size the upload declared.
    pub size: u64,
    /// Bytes the relay holds, from the start: the next `offset`.
    pub received: u64,
    /// All bytes arrived, matched the hash, and the object is stored.
    pub complete: bool,
}

/// The answer to `PUT …/refs/{ref}`: the stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentInfo {
    /// Sealed size in bytes.
    pub size: u64,
}

/// Parse an attachment hash from the path: 64 lower- or upper-case hex digits.
pub fn parse_hash(hex: &str) -> Option<[u8; HASH_BYTES]> {
    parse_hex(hex)
}

/// Parse a reference from the path: 32 hex digits.
pub fn parse_ref(hex: &str) -> Option<[u8; REF_BYTES]> {
    parse_hex(hex)
}

/// The path form of a hash or reference: lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn parse_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let h = hex.as_bytes();
    if h.len() != N * 2 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in h.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_bad_forms() {
        let h = [0xab_u8; HASH_BYTES];
        assert_eq!(parse_hash(&to_hex(&h)), Some(h));
        assert_eq!(parse_hash(&to_hex(&h).to_uppercase()), Some(h));
        assert_eq!(parse_hash("ab"), None);
        assert_eq!(parse_hash(&"g".repeat(64)), None);
        assert_eq!(parse_ref(&"0".repeat(32)), Some([0; REF_BYTES]));
        assert_eq!(parse_ref(&"0".repeat(31)), None);
        assert_eq!(parse_ref("é0000000000000000000000000000000"), None);
    }
}
