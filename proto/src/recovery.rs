//! Recovery kits (issue 12): a person who lost every device gets back in with 24 words.
//!
//! The words give, through HKDF, a lookup id (the kit's name at the relay, 16 bytes, hex in
//! the path), an auth secret and the key of a sealed recovery envelope. The relay keeps,
//! per person, one kit: the auth secret's SHA-256, the envelope (opaque to it) and the
//! spaces the kit may admit a new device to. It never sees the words, the auth secret
//! (until a recovery proves it) or anything inside the envelope.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::{MAX_RECOVERY_ENVELOPE_BYTES, MAX_RECOVERY_SPACES, RECOVERY_LOOKUP_BYTES};

/// `PUT /v1/recovery/{lookup}` (bearer: a device of the person). With `auth_hash` it makes
/// this the caller's person's kit, replacing any other (the old lookup id stops working)
/// and noting the caller as the device that made it. Without it, it updates the envelope
/// and spaces of the person's kit at this lookup id (`not_found` when there is none: it was
/// replaced, or removed with the device that made it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutRecoveryKit {
    /// SHA-256 of the auth secret: 32 bytes. Only when making a kit.
    #[serde(default, with = "serde_bytes", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<u8>>, min_items = 32, max_items = 32))]
    pub auth_hash: Option<Vec<u8>>,
    /// The sealed envelope: 1 to [`MAX_RECOVERY_ENVELOPE_BYTES`] bytes, opaque to the relay.
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 65536))]
    pub envelope: Vec<u8>,
    /// Spaces a recovered device may be admitted to (at most [`MAX_RECOVERY_SPACES`]); the
    /// caller must be a member of each. At recovery the relay admits the new device only to
    /// those where the person still has a device (never back into a journal they left or
    /// were removed from).
    pub spaces: Vec<Uuid>,
}

/// `GET /v1/recovery` (bearer): the caller's person's kit, if there is one (`not_found`
/// otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryKitInfo {
    /// The kit's lookup id: 16 bytes.
    #[serde(with = "serde_bytes")]
    pub lookup: Vec<u8>,
    /// The device that made the kit (or last recovered with it). Revoking that device
    /// removes the kit: whoever holds it may hold the words too.
    pub made_by: Uuid,
    /// Unix seconds of the last envelope update.
    pub updated_at: i64,
    pub spaces: Vec<Uuid>,
}

/// `POST /v1/recovery/{lookup}` (no bearer): prove the kit. On success the relay registers
/// a new device acting for the kit's person, admits it to the kit's spaces where that
/// person still has a device, notes it as the kit's holder, and returns its token and the
/// envelope. Unknown lookup id and wrong secret answer alike (`not_found`); attempts are
/// limited per lookup id and per client address (`rate_limited`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recover {
    /// The auth secret: 32 bytes.
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(min_items = 32, max_items = 32))]
    pub auth: Vec<u8>,
}

/// The answer to a proven kit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recovered {
    /// The new device and its bearer token (shown once).
    pub device_id: Uuid,
    pub token: String,
    /// The person it acts for.
    pub person: Uuid,
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
    /// The spaces it was admitted to.
    pub spaces: Vec<Uuid>,
    /// The person's other devices that are not revoked (the recovered device lists them so
    /// its person can revoke the lost ones).
    pub devices: Vec<Uuid>,
}

/// A lookup id as it appears in the path: 32 lowercase hex digits.
pub fn parse_lookup(s: &str) -> Option<[u8; RECOVERY_LOOKUP_BYTES]> {
    if s.len() != RECOVERY_LOOKUP_BYTES * 2 {
        return None;
    }
    let mut out = [0u8; RECOVERY_LOOKUP_BYTES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    // One spelling only, so one kit has one path.
    (s.bytes().all(|b| !b.is_ascii_uppercase())).then_some(out)
}

/// The path form of a lookup id.
pub fn lookup_hex(lookup: &[u8]) -> String {
    lookup.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a kit update has a shape the relay accepts.
pub fn is_recovery_kit(kit: &PutRecoveryKit) -> bool {
    kit.auth_hash.as_ref().is_none_or(|h| h.len() == 32)
        && (1..=MAX_RECOVERY_ENVELOPE_BYTES).contains(&kit.envelope.len())
        && kit.spaces.len() <= MAX_RECOVERY_SPACES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ids_have_one_spelling() {
        let id = [0xab; 16];
        let hex = lookup_hex(&id);
        assert_eq!(parse_lookup(&hex), Some(id));
        assert_eq!(parse_lookup(&hex.to_uppercase()), None);
        assert_eq!(parse_lookup(&hex[1..]), None);
        assert_eq!(parse_lookup(&format!("{}zz", &hex[2..])), None);
        assert_eq!(parse_lookup("é"), None);
    }

    #[test]
    fn kits_are_bounded() {
        let kit = |h: Option<usize>, e: usize, s: usize| PutRecoveryKit {
            auth_hash: h.map(|n| vec![1; n]),
            envelope: vec![2; e],
            spaces: vec![Uuid::nil(); s],
        };
        assert!(is_recovery_kit(&kit(Some(32), 100, 3)));
        assert!(is_recovery_kit(&kit(None, 100, 0)));
        assert!(!is_recovery_kit(&kit(Some(31), 100, 3)));
        assert!(!is_recovery_kit(&kit(None, 0, 3)));
        assert!(!is_recovery_kit(&kit(
            None,
            MAX_RECOVERY_ENVELOPE_BYTES + 1,
            3
        )));
        assert!(!is_recovery_kit(&kit(None, 10, MAX_RECOVERY_SPACES + 1)));
        // Without a hash, the field is left out of the CBOR.
        let bytes = crate::to_cbor(&kit(None, 1, 0));
        let back: PutRecoveryKit = crate::from_cbor(&bytes).unwrap();
        assert_eq!(back.auth_hash, None);
    }
}
