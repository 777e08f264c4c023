//! Entry points for the fuzz targets in `fuzz/` (cargo fuzz): thin wrappers that reach the
//! crate-private parsers — invite codes and URIs, wrapped invite payloads, sealed blob
//! payloads and snapshots — exactly as the sync code calls them. Compiled only with the
//! `fuzzing` feature; not an API.

use uuid::Uuid;

use crate::blob::{self, DocKind, Payload, SealedBlob};
use crate::crypto::{self, Epoch, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::SpaceId;
use crate::sync::invite::{Secret, Wrapped};

/// Parse an invite code or a `duet:join` URI as `join` does: invite id, secret and the
/// relay URL the URI names.
pub fn parse_invite(input: &str) -> Result<(Uuid, [u8; 16], Option<String>)> {
    let (s, relay) = Secret::parse(input)?;
    Ok((s.invite, s.secret, relay))
}

/// The text code of an invite (`DUET-XXXX-…`).
pub fn invite_code(invite: Uuid, secret: [u8; 16]) -> String {
    Secret { invite, secret }.code()
}

/// The `duet:join?code=…&relay=…` URI of an invite.
pub fn invite_uri(invite: Uuid, secret: [u8; 16], relay: &str) -> String {
    Secret { invite, secret }.uri(relay)
}

/// Unwrap what the relay hands a joiner (`Joined::wrapped_key`) with an invite's secret;
/// returns the number of space keys it carries.
pub fn unwrap_invite(invite: Uuid, secret: [u8; 16], wrapped: &[u8]) -> Result<usize> {
    let w = Secret { invite, secret }.unwrap(wrapped)?;
    Ok(w.keys()?.len())
}

/// Decode the plaintext of a wrapped invite payload as `Secret::unwrap` does, then check it
/// as joining does (its keys, the journal invites a device link carries); returns the
/// number of keys.
pub fn decode_invite_payload(plain: &[u8]) -> Result<usize> {
    let w: Wrapped = ciborium::from_reader(plain)
        .map_err(|e| Error::InviteRejected(format!("the invite's payload is malformed: {e}")))?;
    for j in &w.journals {
        Secret::from_code(j)?;
    }
    Ok(w.keys()?.len())
}

/// Open a sealed blob as a pulled or bundled one is opened: document id, whether it is a
/// meta document, and the Automerge bytes.
pub fn open_blob(
    key: &SpaceKey,
    space: &SpaceId,
    id: [u8; 16],
    sealed: &[u8],
) -> Result<([u8; 16], bool, Vec<u8>)> {
    let p = blob::open(
        key,
        space,
        &SealedBlob {
            id,
            sealed: sealed.to_vec(),
        },
    )?;
    Ok((p.doc, p.kind == DocKind::Meta, p.data))
}

/// Open a snapshot as a pull that is behind the pruned log does (`sync::open_snapshot`): a
/// CBOR sealed blob whose plaintext is a list of payloads. Returns its epoch and the
/// number of documents.
pub fn open_snapshot(key: &SpaceKey, space: &SpaceId, data: &[u8]) -> Result<(Epoch, usize)> {
    let sb: SealedBlob =
        ciborium::from_reader(data).map_err(|e| Error::CorruptData(format!("snapshot: {e}")))?;
    let epoch = crypto::epoch_of(&sb.sealed)?;
    let plain = crypto::open(key, space, &sb.id, &sb.sealed)?;
    let payloads: Vec<Payload> = ciborium::from_reader(plain.as_slice())
        .map_err(|e| Error::CorruptData(format!("snapshot: {e}")))?;
    Ok((epoch, payloads.len()))
}

/// Seal `plain` as a snapshot's outer blob (CBOR `{id, sealed}`), for the fuzz targets to
/// reach the payload list behind the encryption.
pub fn seal_snapshot(
    key: &SpaceKey,
    epoch: Epoch,
    space: &SpaceId,
    id: [u8; 16],
    plain: &[u8],
) -> Result<Vec<u8>> {
    let sealed = crypto::seal(key, epoch, space, &id, plain)?;
    let mut out = Vec::new();
    ciborium::into_writer(&SealedBlob { id, sealed }, &mut out)
        .map_err(|e| Error::Internal(format!("encoding a snapshot: {e}")))?;
    Ok(out)
}
